import { outcomeOf, OVERLOADED_TYPE } from './runner';

describe('outcomeOf', () => {
  it('a 503 overloaded problem is a definite refusal; any other 5xx is unknown', () => {
    expect(outcomeOf(202)).toBe('accepted');
    expect(outcomeOf(429)).toBe('rejected');
    expect(outcomeOf(503, JSON.stringify({ type: OVERLOADED_TYPE, status: 503 }))).toBe('rejected');
    expect(outcomeOf(503, JSON.stringify({ type: 'https://doubletap.dev/problems/unavailable' }))).toBe(
      'unknown',
    );
    expect(outcomeOf(500, JSON.stringify({ type: OVERLOADED_TYPE }))).toBe('unknown');
    expect(outcomeOf(0)).toBe('unknown');
  });
});
