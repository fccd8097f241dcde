/**
 * A command's confirmation: a modal `<dialog>` (the browser keeps focus inside it and Escape
 * cancels), with a reason field where the API takes one. Focus returns to the button that opened it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

export interface CommandRequest {
  title: string;
  /** What happens, in a sentence; a destructive command says it cannot be undone. */
  explanation: string;
  confirmLabel: string;
  destructive: boolean;
  /** Whether the API takes `{"reason"}` for it. */
  takesReason: boolean;
  /** The command needs a reason: the field is required. */
  reasonRequired?: boolean;
  run: (reason: string | undefined) => Promise<void>;
}

export function CommandDialog(props: { request: CommandRequest; onClose: () => void }) {
  const { request, onClose } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(document.activeElement);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const element = dialog.current;
    element?.showModal();
    return () => {
      if (element?.open) element.close();
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    };
  }, []);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await request.run(reason.trim() === '' ? undefined : reason.trim());
      onClose();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
      setBusy(false);
    }
  }

  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="dialog-title" onCancel={(event) => (event.preventDefault(), onClose())}>
      <form method="dialog" onSubmit={submit}>
        <h2 id="dialog-title">{request.title}</h2>
        <p>{request.explanation}</p>
        {request.takesReason && (
          <label class="field">
            <span>Reason ({request.reasonRequired ? 'required' : 'optional'}, recorded in the event log)</span>
            <input name="reason" value={reason} maxLength={500} required={request.reasonRequired === true} onInput={(e) => setReason(e.currentTarget.value)} autoFocus />
          </label>
        )}
        {error && <p class="error" role="alert">{error}</p>}
        <div class="actions">
          <button type="button" onClick={onClose} autoFocus={!request.takesReason}>
            Keep as it is
          </button>
          <button type="submit" class={request.destructive ? 'danger' : 'primary'} disabled={busy}>
            {request.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
