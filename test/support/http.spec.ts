import { send } from './http.js';

describe(send.name, () => {
  const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

  it('should leave no timer behind when node:http refuses the request at once', async () => {
    const before = timers();
    await expect(send('http://127.0.0.1:9/', { headers: { 'X-Bad': 'a\r\nb' }, timeoutMs: 60_000 })).rejects.toThrow(
      /Invalid character in header content/,
    );
    expect(timers()).toBe(before);
  });
});
