"""credit.StreamCredit: a stream's window, waited on from a thread or from the event loop."""
import asyncio
import threading
import time

from snakepit_bridge.credit import StreamCredit


def test_a_window_is_spent_then_waits_until_granted():
    credit = StreamCredit(2)
    assert credit.take() and credit.take()
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(credit.take()))
    waiter.start()
    time.sleep(0.1)
    assert taken == []  # waiting: no credit left
    credit.grant(1)
    waiter.join(5)
    assert taken == [True]


def test_close_ends_a_wait_with_false_and_every_later_take():
    credit = StreamCredit(1)
    assert credit.take()
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(credit.take()))
    waiter.start()
    time.sleep(0.1)
    credit.close()
    waiter.join(5)
    assert taken == [False]
    credit.grant(10)
    assert credit.take() is False


def test_a_coroutine_waits_on_the_loop_and_is_woken_from_another_thread():
    async def main():
        credit = StreamCredit(1)
        assert await credit.atake()
        threading.Timer(0.1, credit.grant, args=(1,)).start()
        assert await asyncio.wait_for(credit.atake(), 5)
        threading.Timer(0.1, credit.close).start()
        assert await asyncio.wait_for(credit.atake(), 5) is False
    asyncio.run(main())


# -- the byte window ---------------------------------------------------------------------------

def _waits(credit: StreamCredit) -> bool:
    return credit.take(wait=False) is False


def test_bytes_sent_and_not_credited_up_to_the_byte_window_make_the_next_chunk_wait():
    credit = StreamCredit(64, byte_window=100)
    for size in (40, 40):
        assert credit.take()
        credit.sent(size)
    assert credit.take()  # 80 < 100 outstanding: this one goes
    credit.sent(40)
    assert _waits(credit)  # 120 >= 100
    credit.grant(1)  # the oldest (40) is credited: 80 outstanding
    assert credit.take()


def test_a_chunk_larger_than_the_byte_window_goes_alone_then_waits_for_its_credit():
    credit = StreamCredit(64, byte_window=100)
    assert credit.take()
    credit.sent(1000)
    assert _waits(credit)
    credit.grant(1)
    assert credit.take()  # nothing outstanding: the next big one goes too
    credit.sent(1000)
    assert _waits(credit)


def test_a_credit_read_before_its_chunk_is_recorded_is_owed_and_not_counted_twice():
    # The reading thread can see the host's credit for a chunk between its write and sent().
    credit = StreamCredit(64, byte_window=100)
    assert credit.take()
    credit.grant(1)
    credit.sent(150)  # already credited: does not count
    assert credit.take()
    credit.sent(150)
    assert _waits(credit)


def test_the_chunk_window_still_holds_with_bytes_counted():
    credit = StreamCredit(2, byte_window=1 << 30)
    for _ in range(2):
        assert credit.take()
        credit.sent(10)
    assert _waits(credit)


def test_close_ends_a_wait_for_byte_credit_from_a_thread_and_from_the_loop():
    credit = StreamCredit(64, byte_window=100)
    assert credit.take()
    credit.sent(500)
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(credit.take()))
    waiter.start()
    time.sleep(0.1)
    assert taken == []
    credit.close()
    waiter.join(5)
    assert taken == [False]

    async def main():
        credit = StreamCredit(64, byte_window=100)
        assert await credit.atake()
        credit.sent(500)
        threading.Timer(0.1, credit.grant, args=(1,)).start()
        assert await asyncio.wait_for(credit.atake(), 5)
        credit.sent(500)
        threading.Timer(0.1, credit.close).start()
        assert await asyncio.wait_for(credit.atake(), 5) is False
    asyncio.run(main())


def test_tool_places_count_no_bytes():
    credit = StreamCredit(1)
    assert credit.take()
    credit.grant(1)  # no sizes to forget, nothing owed
    assert credit.take() and _waits(credit)
