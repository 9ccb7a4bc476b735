'use strict';
// The SDK's stream readers (docs/api.md §8): UTF-8 and server-sent events, cut anywhere.

const assert = require('node:assert/strict');
const { describe, test } = require('node:test');

const { Utf8Decoder, EventReader } = require('../huihua.js');

describe('decoding', () => {
  const text = 'a秋é风𝄞😀z\n';
  const bytes = new TextEncoder().encode(text);

  test('UTF-8 split at every byte, and in every pair of cuts, decodes whole', () => {
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const decoder = new Utf8Decoder();
        const out = decoder.decode(bytes.slice(0, i)) + decoder.decode(bytes.slice(i, j))
          + decoder.decode(bytes.slice(j), true);
        assert.equal(out, text, `cut at ${i}, ${j}`);
      }
    }
  });

  test('malformed UTF-8 reads as U+FFFD, and the text after it survives', () => {
    const decoder = new Utf8Decoder();
    const bad = Uint8Array.from([0x61, 0xff, 0xe7, 0xa7, 0x62, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x63]);
    assert.equal(decoder.decode(bad, true), new TextDecoder().decode(bad));
    assert.equal(new Utf8Decoder().decode(Uint8Array.from([0xe7, 0xa7]), true), '\ufffd');
  });

  test('events split anywhere come out whole; comments and unknown fields are dropped', () => {
    const stream = ': ping\n\nid: 1\nevent: start\ndata: {"seqs":[1,2]}\n\nid: 2\r\nevent: delta\r\n'
      + 'data: {"msg":"秋风😀"}\r\n\r\nretry: 10\nid:3\nevent:delta\ndata:{"msg":"x"}\n\n';
    const all = new TextEncoder().encode(stream);
    for (let size = 1; size <= 9; size++) {
      const reader = new EventReader();
      const frames = [];
      for (let at = 0; at < all.length; at += size) frames.push(...reader.push(all.slice(at, at + size)));
      assert.deepEqual(frames, [
        { id: '1', event: 'start', data: '{"seqs":[1,2]}' },
        { id: '2', event: 'delta', data: '{"msg":"秋风😀"}' },
        { id: '3', event: 'delta', data: '{"msg":"x"}' },
      ]);
    }
  });
});
