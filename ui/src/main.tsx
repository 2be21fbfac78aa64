import "./index.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "./App";
import { applyTheme, followSystem, storedTheme } from "./lib/theme";

applyTheme(storedTheme());
followSystem();

const root = document.getElementById("root");
if (!root) throw new Error("index.html lacks <div id=root>");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
