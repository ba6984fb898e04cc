import os
import signal
import threading
import time

import pytest

from rtstyle.stages import Consumer, Producer, deferred_interrupt


def test_producer_keeps_order_and_stays_a_few_items_ahead():
    made = []

    def items():
        for i in range(50):
            made.append(i)
            yield i

    got = []
    with Producer(items(), maxsize=3) as producer:
        for item in producer:
            if item == 0:
                time.sleep(0.3)  # a slow consumer: the producer must wait, not read ahead
                assert len(made) <= 3 + 2  # the queue, plus one in hand, plus one being made
            got.append(item)
    assert got == list(range(50))


def test_producer_error_is_raised_in_the_consumer():
    def items():
        yield 1
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        with Producer(items()) as producer:
            assert list(producer) == [1]


def test_leaving_early_stops_the_producer_thread():
    def items():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    with Producer(items(), maxsize=2) as producer:
        for item in producer:
            if item == 5:
                break
    assert threading.active_count() == before


def test_consumer_keeps_order_and_waits_for_everything_on_exit():
    seen = []
    with Consumer(lambda x: (time.sleep(0.001), seen.append(x)), maxsize=2) as consumer:
        for i in range(30):
            consumer.put(i)
    assert seen == list(range(30))


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_stop_on_the_callers_side(stop):
    """Ctrl-C: the consumer finishes what it was given; an error (a model failed): it drops the rest."""
    seen = []
    ctrl_c = stop is KeyboardInterrupt
    with pytest.raises(stop):
        with Consumer(lambda x: (time.sleep(0.01 if ctrl_c else 0.05), seen.append(x)), maxsize=8) as consumer:
            for i in range(5 if ctrl_c else 8):
                consumer.put(i)
            raise stop
    assert seen == list(range(5)) if ctrl_c else len(seen) < 8


def test_consumer_error_is_raised_by_put_or_exit():
    def consume(x):
        if x == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with Consumer(consume, maxsize=1) as consumer:
            for i in range(100):
                consumer.put(i)
                time.sleep(0.001)



def test_first_ctrl_c_is_deferred_to_a_check_and_a_second_one_interrupts():
    handler = signal.getsignal(signal.SIGINT)
    with deferred_interrupt() as ctrl_c:
        ctrl_c.check()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs in this thread at its next instruction
        assert ctrl_c.pressed
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is handler


def test_deferred_interrupt_changes_nothing_outside_the_main_thread():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(deferred_interrupt().__enter__().pressed))
    thread.start()
    thread.join()
    assert seen == [False]


def test_sigterm_and_sighup_are_deferred_like_ctrl_c_under_rtstyles_handler():
    from rtstyle.errors import Terminated, raise_terminated

    for signum in (signal.SIGTERM, signal.SIGHUP):
        saved = signal.signal(signum, raise_terminated)
        try:
            with deferred_interrupt() as stop:
                os.kill(os.getpid(), signum)
                time.sleep(0.05)
                assert stop.pressed and stop.signum == signum
                with pytest.raises(Terminated) as first:
                    stop.check()
                assert first.value.signum == signum and isinstance(first.value, KeyboardInterrupt)
                with pytest.raises(Terminated):  # a second one acts at once
                    os.kill(os.getpid(), signum)
                    time.sleep(1)
            assert signal.getsignal(signum) is raise_terminated
        finally:
            signal.signal(signum, saved)


def test_sigterm_left_to_the_system_or_to_a_host_is_not_taken_over():
    def hosts_own(signum, frame):  # a Ray worker's, say: it must act at once
        pass

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with deferred_interrupt():
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    saved = signal.signal(signal.SIGTERM, hosts_own)
    try:
        with deferred_interrupt():
            assert signal.getsignal(signal.SIGTERM) is hosts_own
    finally:
        signal.signal(signal.SIGTERM, saved)
