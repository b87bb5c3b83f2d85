// Two local "services" the agent's tools call: a weather service that times out once, and a
// currency service that wants an API key in its arguments.

/** Fails its first call with a timeout, as a flaky upstream does; the tool step retries it. */
export function createWeatherService() {
  let calls = 0;
  return {
    async forecast({ city, day }) {
      await new Promise((resolve) => setTimeout(resolve, 4));
      calls++;
      if (calls === 1) {
        throw Object.assign(new Error(`weather service timed out after 4 ms (${city})`), {
          code: 'ETIMEDOUT',
        });
      }
      return { city, day, forecast: 'sunny', highC: 24, wind: 'light' };
    },
  };
}

const RATES = { 'EUR/USD': 1.09, 'USD/EUR': 0.92, 'GBP/USD': 1.27 };

/** Converts at a fixed rate; refuses calls without a key, like a real metered API. */
export function createCurrencyService() {
  return {
    async convert({ amount, from, to, apiKey }) {
      await new Promise((resolve) => setTimeout(resolve, 3));
      if (typeof apiKey !== 'string' || !apiKey.startsWith('sk-')) {
        throw Object.assign(new Error('currency service: missing or malformed API key'), { code: 401 });
      }
      const rate = RATES[`${from}/${to}`];
      if (rate === undefined) throw new Error(`currency service: no rate for ${from}/${to}`);
      return { amount, from, to, rate, converted: (amount * rate).toFixed(2) };
    },
  };
}
