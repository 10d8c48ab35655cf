// "New security events were stored": the fleet server raises it after each commit that appended events;
// the exports (webhook delivery, the event stream) listen and then read the table themselves. Carrying
// no data keeps the ingest path to one function call per event, whoever listens; listeners only
// schedule work.

export class EventSignal {
  private readonly listeners = new Set<() => void>();

  /** Calls `listener` on every signal until the returned function is called. */
  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  raise(): void {
    for (const listener of this.listeners) listener();
  }
}
