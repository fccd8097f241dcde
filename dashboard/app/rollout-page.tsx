/**
 * One rollout: its progress, the commands its status allows, its devices (paged, filterable by
 * status) and its event log (paged). Re-read every 3 s while it runs, every 15 s once it rests.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { deviceStatuses, type RolloutDetail } from '../../client/admin-client';
import type { Api } from './api';
import { CommandDialog, type CommandRequest } from './dialog';
import { RolloutDevices } from './rollout-devices';
import { EventLog, LatestEvents } from './event-log';
import { activeStatuses } from './progress';
import { RolloutCard } from './rollouts-page';
import { useRefresh } from './use-refresh';

export function RolloutPage(props: { api: Api; id: string; announce: (message: string) => void }) {
  const { api, id, announce } = props;
  const path = `/api/v1/rollouts/${encodeURIComponent(id)}`;
  const [running, setRunning] = useState(true);
  const detail = useRefresh(() => api.get<RolloutDetail>(path), running ? 3_000 : 15_000, path);
  const [command, setCommand] = useState<CommandRequest | undefined>(undefined);
  const status = detail.data?.rollout.status;
  const lastStatus = useRef<string | undefined>(undefined);
  const section = useRef<HTMLElement>(null);

  useEffect(() => {
    if (!status) return;
    setRunning(activeStatuses.includes(status));
    if (lastStatus.current && lastStatus.current !== status) {
      const reason = detail.data?.rollout.status_reason;
      announce(`Rollout is now ${status.replaceAll('_', ' ')}${reason ? `: ${reason}` : ''}`);
      // The button that had the focus may be gone with the old status: the focus stays on the rollout.
      if (document.activeElement === document.body) section.current?.querySelector<HTMLElement>('.actions button, a')?.focus();
    }
    lastStatus.current = status;
  }, [status]);

  if (detail.error && !detail.data) return <p class="error" role="alert">{detail.error}</p>;
  if (!detail.data) return <p class="hint">Loading…</p>;
  const { rollout, statistics } = detail.data;

  const send = (action: string, field: 'reason' | 'comment' = 'reason') => async (reason: string | undefined) => {
    await api.send('POST', `${path}/${action}`, reason ? { [field]: reason } : {}, [200, 202]);
    announce(`${action.replace('-', ' ')} sent for the rollout of ${rollout.image}`);
    detail.reload();
  };
  const ask = (request: CommandRequest) => setCommand(request);
  const waitsForApproval = rollout.awaiting_approval !== undefined || (rollout.status === 'pending' && (rollout.status_reason ?? '').startsWith('waiting for approval'));
  // Start, pause and resume share a slot, so the button keeps the focus as one turns into the next.
  const commands: { label: string; slot: string; when: string[]; request: CommandRequest }[] = [
    { label: 'Start', slot: 'advance', when: waitsForApproval ? [] : ['pending'], request: { title: 'Start this rollout?', explanation: 'Its first batch gets the new image.', confirmLabel: 'Start', destructive: false, takesReason: false, run: send('start') } },
    { label: 'Pause', slot: 'advance', when: ['in_progress'], request: { title: 'Pause this rollout?', explanation: 'No further device is scheduled until it is resumed; devices already updating finish.', confirmLabel: 'Pause', destructive: false, takesReason: true, run: send('pause') } },
    { label: 'Resume', slot: 'advance', when: rollout.awaiting_approval ? [] : ['paused'], request: { title: 'Resume this rollout?', explanation: 'It carries on from where it paused.', confirmLabel: 'Resume', destructive: false, takesReason: false, run: send('resume') } },
    { label: 'Approve', slot: 'approve', when: waitsForApproval ? [rollout.status] : [], request: { title: 'Approve this rollout?', explanation: rollout.awaiting_approval ? `Batch ${rollout.awaiting_approval.after_batch} has completed; with your approval the rollout goes on to the next batch.` : 'With the approvals it needs, the rollout starts.', confirmLabel: 'Approve', destructive: false, takesReason: true, run: send('approve', 'comment') } },
    { label: 'Reject', slot: 'reject', when: waitsForApproval ? [rollout.status] : [], request: { title: 'Reject this rollout?', explanation: 'It is cancelled; devices not yet updated keep their image. This cannot be undone.', confirmLabel: 'Reject', destructive: true, takesReason: true, run: send('reject', 'comment') } },
    { label: 'Promote', slot: 'promote', when: ['in_progress'], request: { title: 'Promote this rollout?', explanation: 'The remaining batches start now as one, past batch delays and maintenance windows. Health checks still run.', confirmLabel: 'Promote', destructive: true, takesReason: true, reasonRequired: true, run: send('promote') } },
    { label: 'Cancel', slot: 'cancel', when: ['pending', 'in_progress', 'paused'], request: { title: 'Cancel this rollout?', explanation: 'It stops for good; devices not yet updated keep their image. This cannot be undone.', confirmLabel: 'Cancel the rollout', destructive: true, takesReason: true, run: send('cancel') } },
    { label: 'Roll back all', slot: 'rollback-all', when: ['in_progress', 'paused', 'completed'], request: { title: 'Roll back every device?', explanation: `Every device of this rollout goes back to the image it ran before ${rollout.image}. This cannot be undone.`, confirmLabel: 'Roll back all', destructive: true, takesReason: true, run: send('rollback-all') } },
  ];
  const allowed = commands.filter((command) => command.when.includes(rollout.status));
  // Start and resume take no reason and change nothing irreversibly: they run at once.
  const act = (request: CommandRequest) => (request.takesReason || request.destructive ? ask(request) : void request.run(undefined).catch((e: unknown) => announce(String(e instanceof Error ? e.message : e))));

  return (
    <>
      <p>
        <a href="#/">← All rollouts</a>
      </p>
      <section aria-labelledby="rollout-title" class="card" ref={section}>
        <h2 id="rollout-title" class="visually-hidden">
          Rollout {rollout.id}
        </h2>
        <RolloutCard rollout={{ ...rollout, statistics }} />
        {detail.error && <p class="error">Last refresh failed: {detail.error}</p>}
        {allowed.length > 0 && (
          <div class="actions" role="group" aria-label="Rollout commands">
            {allowed.map((command) => (
              <button key={command.slot} type="button" class={command.request.destructive ? 'danger' : ''} onClick={() => act(command.request)}>
                {command.label}
              </button>
            ))}
          </div>
        )}
      </section>
      <RolloutDevices
        api={api}
        rolloutId={id}
        refreshMs={running ? 3_000 : 15_000}
        statuses={deviceStatuses}
        onRollback={(uuid, name) =>
          ask({
            title: `Roll back ${name}?`,
            explanation: `${name} goes back to the image it ran before ${rollout.image}. This cannot be undone.`,
            confirmLabel: 'Roll back device',
            destructive: true,
            takesReason: true,
            run: async (reason) => {
              await api.send('POST', `${path}/devices/${encodeURIComponent(uuid)}/rollback`, reason ? { reason } : {});
              announce(`${name} is being rolled back`);
              detail.reload();
            },
          })
        }
      />
      <LatestEvents events={detail.data.events} />
      <EventLog api={api} rolloutId={id} />
      {command && <CommandDialog request={command} onClose={() => setCommand(undefined)} />}
    </>
  );
}
