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
