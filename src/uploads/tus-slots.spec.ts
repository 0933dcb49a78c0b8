import { Slots } from './tus-slots.js';

describe(Slots.name, () => {
  it('should hand out its slots, then give a waiter the next one released', async () => {
    const slots = new Slots(2);
    const first = await slots.take(0);
    const second = await slots.take(0);
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    const waiting = slots.take(1000);
    first?.();
    first?.();
    const third = await waiting;
    expect(third).toBeDefined();
    // The double release above freed one slot, not two.
    expect(await slots.take(10)).toBeUndefined();
    second?.();
    expect(await slots.take(0)).toBeDefined();
  });

  it('should answer undefined after the wait and forget the waiter', async () => {
    const slots = new Slots(1);
    const held = await slots.take(0);
    const started = Date.now();
    expect(await slots.take(50)).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    held?.();
    // The timed-out waiter did not take the released slot.
    expect(await slots.take(0)).toBeDefined();
  });
});
