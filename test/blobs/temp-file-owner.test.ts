import { describe, expect, it } from 'vitest';
import { isOrphanTemp, type TempOwner, tempFileName } from '../../src/blobs/temp-file-owner.js';

const me: TempOwner = { host: 'web-1', pid: 7, instance: 'aaaaaaaa' };
const alivePids = new Set([7, 40]);
const alive = (pid: number) => alivePids.has(pid);

describe('isOrphanTemp', () => {
  it('judges only this host: dead pid or an earlier run with our pid is an orphan', () => {
    const name = (owner: TempOwner) => tempFileName('data', owner);
    expect(isOrphanTemp(name(me), me, alive)).toBe(false); // ours, in progress
    // A container restarted with the same pid: the earlier instance is dead.
    expect(isOrphanTemp(name({ ...me, instance: 'bbbbbbbb' }), me, alive)).toBe(true);
    expect(isOrphanTemp(name({ ...me, pid: 40 }), me, alive)).toBe(false); // a live process
    expect(isOrphanTemp(name({ ...me, pid: 41 }), me, alive)).toBe(true); // gone
    expect(isOrphanTemp(name({ ...me, host: 'web-2', pid: 41 }), me, alive)).toBe(false);
    // Names of older versions (a bare uuid) are left to the age rule.
    expect(isOrphanTemp('2b0e4b4e-5f1c-4a55-9a57-0d3c3f6f9f0e.data', me, alive)).toBe(false);
  });
});
