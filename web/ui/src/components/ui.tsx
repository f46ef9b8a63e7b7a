import type { ComponentChildren } from 'preact';
import { useApp } from '../app.tsx';
import { errorText } from '../i18n.ts';

export function ErrorBox(props: { error: unknown; id?: string }) {
  const { m } = useApp();
  if (!props.error) return null;
  return (
    <p class="error" role="alert" id={props.id}>
      {errorText(m, props.error)}
    </p>
  );
}

export function Tile(props: {
  label: string;
  value: ComponentChildren;
  tone?: 'warn' | 'ok' | 'bad';
  testid?: string;
}) {
  return (
    <div class={`tile ${props.tone ?? ''}`} data-testid={props.testid}>
      <div class="tile-value">{props.value}</div>
      <div class="tile-label">{props.label}</div>
    </div>
  );
}

export function StatusBadge(props: { status: string }) {
  const { m } = useApp();
  return (
    <span class={`badge st-${props.status}`}>
      {(m.statuses as Record<string, string>)[props.status] ?? props.status}
    </span>
  );
}

export function UrgencyBadge(props: { urgency: string }) {
  const { m } = useApp();
  return (
    <span class={`badge ur-${props.urgency}`}>
      {(m.urgencies as Record<string, string>)[props.urgency] ?? props.urgency}
    </span>
  );
}

export const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`;

export function Section(props: { title: string; children: ComponentChildren; id?: string; class?: string }) {
  const hid = props.id ? `${props.id}-h` : undefined;
  return (
    <section class={`card ${props.class ?? ''}`} aria-labelledby={hid} id={props.id}>
      <h2 id={hid}>{props.title}</h2>
      {props.children}
    </section>
  );
}
