"""Monitoring and the capture queue (APScheduler). Not yet built: captures run in-process."""
