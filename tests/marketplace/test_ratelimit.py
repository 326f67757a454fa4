from marketplace import ratelimit
from marketplace.ratelimit import RateLimit


def test_uncount_takes_back_one_event_of_this_window():
    limit = RateLimit("test-uncount", 5, 60)
    assert limit.hit("member") == 1
    assert limit.hit("member") == 2
    limit.uncount("member")
    assert limit.count("member") == 1
    assert limit.hit("member") == 2
    assert limit.count("other") == 0


def test_uncount_after_the_window_ended_changes_nothing(monkeypatch):
    limit = RateLimit("test-uncount-late", 5, 60)
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_000_000.0)
    limit.hit("member")
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_000_060.0)  # the next window
    limit.uncount("member")
    assert limit.count("member") == 0
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_000_000.0)
    assert limit.count("member") == 1

