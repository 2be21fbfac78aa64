import { describe, expect, it } from "vitest";

import { readSse } from "./sse";

function streamOf(pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
}

async function collect(pieces: string[]) {
  const frames = [];
  for await (const frame of readSse(streamOf(pieces))) frames.push(frame);
  return frames;
}

describe("readSse", () => {
  it("reads named frames split across pieces and several in one", async () => {
    const frames = await collect([
      'event: citations\ndata: {"citations":[]}\n\nevent: del',
      'ta\ndata: {"text":"Hel"}\n\n',
      'event: done\r\ndata: {"found":true}\r\n\r\n',
    ]);
    expect(frames).toEqual([
      { event: "citations", data: '{"citations":[]}' },
      { event: "delta", data: '{"text":"Hel"}' },
      { event: "done", data: '{"found":true}' },
    ]);
  });

  it("skips comments and keeps a last frame without its blank line", async () => {
    expect(await collect([": keep-alive\n\ndata: a\ndata: b"])).toEqual([{ event: "message", data: "a\nb" }]);
  });

  it("decodes a character split between pieces", async () => {
    const bytes = new TextEncoder().encode("data: é\n\n");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 7));
        controller.enqueue(bytes.slice(7));
        controller.close();
      },
    });
    const frames = [];
    for await (const frame of readSse(stream)) frames.push(frame);
    expect(frames).toEqual([{ event: "message", data: "é" }]);
  });
});
