"""FreshReads: shared fetches, never a fetch that started before the caller arrived."""

import asyncio

import pytest

from foliosync.api.coalesce import FreshReads, SingleFlight


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Source:
    """A fetch that returns how many fetches started before it, and can be held open."""

    def __init__(self) -> None:
        self.started = 0
        self.gate = asyncio.Event()
        self.fail_next = False

    async def fetch(self) -> int:
        self.started += 1
        number = self.started
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database went away")
        return number


def test_sequential_reads_each_fetch():
    async def main():
        reads, source = FreshReads[str, int](), Source()
        source.gate.set()
        assert [await reads.read("u", source.fetch) for _ in range(3)] == [1, 2, 3]

    asyncio.run(main())


def test_callers_arriving_mid_fetch_share_the_next_fetch_not_the_running_one():
    async def main():
        reads, source = FreshReads[str, int](), Source()
        first = asyncio.ensure_future(reads.read("u", source.fetch))
        await settle()
        assert source.started == 1  # fetch 1 running, held at the gate
        later = [asyncio.ensure_future(reads.read("u", source.fetch)) for _ in range(5)]
        other_key = asyncio.ensure_future(reads.read("v", source.fetch))
        await settle()
        assert source.started == 2  # "v" has its own fetch; the five "u" callers wait, none started
        source.gate.set()
        assert await first == 1
        assert await other_key == 2
        assert [await t for t in later] == [3] * 5  # one fetch for the five, started after fetch 1
        assert source.started == 3

    asyncio.run(main())


def test_an_error_reaches_the_callers_of_that_fetch_only():
    async def main():
        reads, source = FreshReads[str, int](), Source()
        source.fail_next = True
        failing = [asyncio.ensure_future(reads.read("u", source.fetch))]
        await asyncio.sleep(0)
        source.gate.set()
        with pytest.raises(RuntimeError, match="database went away"):
            await failing[0]
        assert await reads.read("u", source.fetch) == 2

    asyncio.run(main())


def test_a_caller_giving_up_does_not_cancel_the_shared_fetch():
    async def main():
        reads, source = FreshReads[str, int](), Source()
        impatient = asyncio.ensure_future(reads.read("u", source.fetch))
        patient = asyncio.ensure_future(reads.read("u", source.fetch))
        await asyncio.sleep(0)
        impatient.cancel()
        await asyncio.sleep(0)
        source.gate.set()
        assert await patient == 2 and impatient.cancelled()

    asyncio.run(main())


def test_single_flight_shares_a_running_computation_and_only_that():
    async def main():
        flights, runs = SingleFlight[str, int](), []
        gate = asyncio.Event()

        async def compute() -> int:
            runs.append(1)
            await gate.wait()
            return len(runs)

        callers = [asyncio.ensure_future(flights.run("k", compute)) for _ in range(4)]
        other = asyncio.ensure_future(flights.run("other", compute))
        await settle()
        assert len(runs) == 2  # one per key, however many callers
        gate.set()
        assert [await c for c in callers] == [2, 2, 2, 2] and await other == 2
        assert await flights.run("k", compute) == 3  # finished runs are not reused

    asyncio.run(main())


def test_single_flight_hands_an_error_to_every_caller():
    async def main():
        flights = SingleFlight[str, int]()

        async def broken() -> int:
            await asyncio.sleep(0)
            raise ValueError("render failed")

        callers = [asyncio.ensure_future(flights.run("k", broken)) for _ in range(3)]
        results = await asyncio.gather(*callers, return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)

    asyncio.run(main())
