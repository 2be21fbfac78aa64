/** `Markdown`: untrusted Markdown rendered safely (see ./Renderer.tsx for what a document cannot
 * do). The renderer and its parser are a chunk of their own, fetched the first time a page shows
 * Markdown; until then, or if it cannot be fetched, the text is shown as text. */

import { Component, lazy, Suspense, type ReactNode } from "react";

import type { MarkdownProps } from "./types";

export type { MarkdownProps } from "./types";
export type { ReferenceTarget } from "./plugins";
export { focusPassage } from "./focus";

const Renderer = lazy(() => import("./Renderer"));

function PlainText({ text, className }: Pick<MarkdownProps, "text" | "className">) {
  return <div className={`whitespace-pre-wrap break-words text-sm leading-relaxed ${className ?? ""}`}>{text}</div>;
}

/** A chunk that failed to load (a new build replaced it, the network dropped) leaves the text
 * readable instead of the page broken. */
class PlainOnError extends Component<{ fallback: ReactNode; children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override render(): ReactNode {
    return this.state.failed ? this.props.fallback : this.props.children;
  }
}

export function Markdown(props: MarkdownProps) {
  const plain = <PlainText text={props.text} {...(props.className ? { className: props.className } : {})} />;
  return (
    <PlainOnError fallback={plain}>
      <Suspense fallback={plain}>
        <Renderer {...props} />
      </Suspense>
    </PlainOnError>
  );
}

