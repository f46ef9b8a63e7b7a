/** A photo from the phone's camera or files, checked here (type, 5 MB) before it is uploaded. */

import { useState } from 'preact/hooks';
import { MEDIA_MAX_BYTES_DEFAULT, MEDIA_TYPES } from '../../../../domain/index.ts';
import { useApp } from '../app.tsx';

export function PhotoInput(props: { id: string; onChange: (f: File | null) => void; label?: string }) {
  const { m } = useApp();
  const [problem, setProblem] = useState<string | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  return (
    <div class="photo-input">
      <label for={props.id}>{props.label ?? m.takePhoto}</label>
      <input
        id={props.id}
        type="file"
        accept={MEDIA_TYPES.join(',')}
        capture="environment"
        aria-describedby={problem ? `${props.id}-err` : undefined}
        aria-invalid={!!problem}
        onChange={(e) => {
          const f = (e.target as HTMLInputElement).files?.[0] ?? null;
          let err: string | null = null;
          if (f && !(MEDIA_TYPES as readonly string[]).includes(f.type)) err = m.photoNotImage;
          else if (f && f.size > MEDIA_MAX_BYTES_DEFAULT) err = m.photoTooLarge;
          setProblem(err);
          if (preview) URL.revokeObjectURL(preview);
          setPreview(f && !err ? URL.createObjectURL(f) : null);
          props.onChange(err ? null : f);
        }}
      />
      {problem && (
        <span class="field-error" id={`${props.id}-err`} role="alert">
          {problem}
        </span>
      )}
      {preview && <img class="thumb" src={preview} alt={m.photo} />}
    </div>
  );
}
