// Lints the shell (ui/) and every domain's pages (src/devflow/*/ui). ESLint runs from the
// repository root with `--config ui/eslint.config.js` (see `npm run lint`), so the domains'
// folders are inside its base path and the patterns below are relative to the root.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["ui/node_modules/**", "src/devflow/web/ui_dist/**", "ui/test-results/**", "ui/playwright-report/**"] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ["ui/**/*.{ts,tsx}", "src/devflow/*/ui/**/*.{ts,tsx}"],
    // The browser tests are Node code for Playwright: its fixtures' `use` is no React hook.
    ignores: ["ui/e2e/**"],
    languageOptions: { globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "no-console": "error",
      eqeqeq: "error",
    },
  },
  { files: ["ui/*.{js,ts}"], languageOptions: { globals: globals.node } },
  {
    files: ["ui/e2e/**/*.ts"],
    languageOptions: { globals: globals.node },
    rules: { "no-console": "error", eqeqeq: "error" },
  },
  // A test indexes what it has just built; a wrong guess fails the test anyway.
  {
    files: ["**/*.test.{ts,tsx}"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
