import { describe, expect, it } from 'vitest';
import { durableWriteOptions } from '../../src/connections.js';

describe('durableWriteOptions', () => {
  it('makes writes wait for the journal by default', () => {
    expect(durableWriteOptions('mongodb://127.0.0.1:27017/otaguard')).toEqual({ journal: true });
    expect(durableWriteOptions('mongodb://a:27017,b:27017/otaguard?replicaSet=rs0&w=majority')).toEqual({ journal: true });
  });

  it('leaves the choice to a URL that makes it, in any spelling', () => {
    expect(durableWriteOptions('mongodb://127.0.0.1:27017/otaguard?journal=false')).toEqual({});
    expect(durableWriteOptions('mongodb+srv://cluster.example.net/otaguard?retryWrites=true&Journal=true')).toEqual({});
  });
});
