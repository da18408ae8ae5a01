"""``tradeflow.memo``: the per-process TTL memo behind the hot lookups."""

from __future__ import annotations

import pytest

from tradeflow import memo


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(memo.time, "monotonic", lambda: now[0])
    return now


def counting_loader():
    calls = []

    def load(key):
        calls.append(key)
        return f"{key}:{len(calls)}"

    return load, calls


def test_it_remembers_an_answer_until_it_is_older_than_its_ttl(clock):
    cache = memo.TTLMemo(5.0)
    load, calls = counting_loader()
    assert cache.get("a", load) == "a:1"
    clock[0] += 4.9
    assert cache.get("a", load) == "a:1"
    clock[0] += 0.2
    assert cache.get("a", load) == "a:2"
    assert cache.get("a", load, fresh=True) == "a:3"
    assert calls == ["a", "a", "a"]


def test_it_asks_again_for_empty_answers_when_told_not_to_remember_them(clock):
    cache = memo.TTLMemo(5.0, remember_empty=False)
    answers = iter([[], [60]])
    assert cache.get(1, lambda _: next(answers)) == []
    assert cache.get(1, lambda _: next(answers)) == [60]
    assert cache.get(1, lambda _: pytest.fail("remembered")) == [60]


def test_it_never_remembers_what_the_loader_raises(clock):
    cache = memo.TTLMemo(5.0)

    def fail(_):
        raise LookupError

    with pytest.raises(LookupError):
        cache.get("k", fail)
    assert cache.get("k", lambda _: "found") == "found"


def test_it_starts_over_past_max_entries(clock):
    cache = memo.TTLMemo(5.0, max_entries=2)
    load, calls = counting_loader()
    for key in ("a", "b", "c", "d"):
        cache.get(key, load)
    cache.get("a", load)  # dropped when "d" came in
    assert calls == ["a", "b", "c", "d", "a"]


def test_it_forgets_one_key_or_every_memo(clock):
    first, second = memo.TTLMemo(5.0), memo.TTLMemo(5.0)
    load, calls = counting_loader()
    first.get("a", load)
    first.get("b", load)
    second.get("c", load)
    first.forget("a")
    first.get("a", load)
    first.get("b", load)
    memo.clear_all()
    second.get("c", load)
    assert calls == ["a", "b", "c", "a", "c"]
