/** A form field's problems, under the field (aria-describedby), and focus on the first invalid field. */
import type { Problem } from '../forms.ts';

/** Field errors under their fields (aria-describedby), the first invalid field focused. */
export function FieldError(props: { id: string; problems: Problem[]; field: string }) {
  const p = props.problems.filter((x) => x.field === props.field || x.field.startsWith(`${props.field}.`));
  if (p.length === 0) return null;
  return (
    <span class="field-error" id={props.id} role="alert">
      {p.map((x) => x.message).join(' ')}
    </span>
  );
}
export const focusFirstInvalid = (form: HTMLElement | null) =>
  setTimeout(() => form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);
