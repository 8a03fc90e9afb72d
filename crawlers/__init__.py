"""Isnad's Scrapy project: spiders, browser capture through scrapy-playwright, behaviours."""
