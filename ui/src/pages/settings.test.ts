import { describe, expect, it } from "vitest";

import { filterSettings, sections, showValue, type Setting } from "./settings";

function setting(key: string, source = "default", description = ""): Setting {
  return { key, env: `DEVFLOW_${key.toUpperCase().replace(/\./g, "__")}`, value: 1, source, description, secret: false };
}

const ALL = [
  setting("home"),
  setting("server.port", "environment", "Port the HTTP server listens on."),
  setting("server.host"),
  setting("llm.providers", ".env", "Named OpenAI-compatible providers."),
  setting("database_url", "set at start"),
];

describe("filterSettings", () => {
  it("matches every word in the key, the variable or the description", () => {
    expect(filterSettings(ALL, "http port", false).map((s) => s.key)).toEqual(["server.port"]);
    expect(filterSettings(ALL, "DEVFLOW_LLM", false).map((s) => s.key)).toEqual(["llm.providers"]);
  });

  it("keeps only what is not a default when asked", () => {
    expect(filterSettings(ALL, "", true).map((s) => s.key)).toEqual(["server.port", "llm.providers", "database_url"]);
  });
});

describe("sections", () => {
  it("groups by the first part of the key, top-level keys first as general", () => {
    expect(sections(ALL).map((s) => [s.name, s.settings.map((x) => x.key)])).toEqual([
      ["general", ["home", "database_url"]],
      ["server", ["server.port", "server.host"]],
      ["llm", ["llm.providers"]],
    ]);
  });
});

describe("showValue", () => {
  it("says what is not set, and shows structures as JSON", () => {
    expect(showValue(null)).toEqual({ text: "not set", block: false, unset: true });
    expect(showValue("***").text).toBe("***");
    expect(showValue("")).toMatchObject({ text: '""' });
    expect(showValue(false).text).toBe("false");
    expect(showValue([])).toEqual({ text: "[]", block: false, unset: false });
    expect(showValue({ a: { api_key: "***" } })).toEqual({
      text: '{\n  "a": {\n    "api_key": "***"\n  }\n}',
      block: true,
      unset: false,
    });
  });
});
