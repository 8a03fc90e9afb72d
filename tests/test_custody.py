"""The custody hash chain: intact chains pass, any edit, removal or reordering is caught."""

from dataclasses import replace

from archiver.custody import GENESIS, chain_problems, next_event


def _chain(n: int = 4):
    events = []
    for i in range(n):
        events.append(next_event(events[-1] if events else None, capture_id="c1",
                                 actor="analyst", action=f"step{i}", object_sha256="ab" * 32,
                                 details={"i": i, "text": "نص عربي"}))
    return events


def test_intact_chain_has_no_problems():
    events = _chain()
    assert events[0].prev_hash == GENESIS
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    assert chain_problems(events) == []


def test_edited_event_is_caught():
    events = _chain()
    events[1] = replace(events[1], actor="someone else")
    problems = chain_problems(events)
    assert any("#2" in p and "edited" in p for p in problems)


def test_removed_event_is_caught():
    events = _chain()
    del events[2]
    assert chain_problems(events)


def test_reordered_events_are_caught():
    events = _chain()
    events[1], events[2] = events[2], events[1]
    assert chain_problems(events)


def test_rehashed_edit_still_breaks_the_link():
    events = _chain()
    forged = replace(events[1], details={"i": 99})
    forged = replace(forged, hash=forged.computed_hash())
    events[1] = forged
    problems = chain_problems(events)
    assert any("#3" in p and "does not link" in p for p in problems)
