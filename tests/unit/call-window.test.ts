// The bound on calls a transport keeps open on a broker: halves on overload, grows back by answers in time.
import { expect, test } from "bun:test";
import { CallWindow } from "../../src/util/window.ts";

test("starts at max, halves per overloaded call down to the floor, then grows back one per window of answers", async () => {
  const w = new CallWindow(16);
  expect(w.limit).toBe(16);
  const overload = async () => {
    await w.acquire();
    w.release(true);
  };
  const answer = async () => {
    await w.acquire();
    w.release(false);
  };
  for (const want of [8, 4, 2, 1, 1]) {
    await overload();
    expect(w.limit).toBe(want);
  }
  // At 1 a single answer in time takes it to 2; at 2 it takes two more to reach 3; and so on up to 16, never past.
  const steps: number[] = [];
  for (let i = 0; i < 200; i++) {
    await answer();
    if (steps.at(-1) !== w.limit) steps.push(w.limit);
  }
  expect(steps).toEqual(Array.from({ length: 16 }, (_, i) => i + 1).slice(1));
});

test("no more calls in flight than the limit; a waiter starts when one ends, or gives up when its signal aborts", async () => {
  const w = new CallWindow(2);
  await w.acquire();
  await w.acquire();
  let third = false;
  const waiting = w.acquire().then(() => (third = true));
  await Bun.sleep(20);
  expect(third).toBe(false);
  w.release(false);
  await waiting;
  expect(third).toBe(true);

  const abort = new AbortController();
  let fourth = false;
  const gaveUp = w.acquire(abort.signal).then(() => (fourth = true));
  await Bun.sleep(20);
  expect(fourth).toBe(false);
  abort.abort();
  await gaveUp;
  expect(fourth).toBe(true);
});
