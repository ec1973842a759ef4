/** Where the client is in each room with history: the room's epoch and last delivered offset. */
export interface Position {
  epoch: string;
  offset: number;
}

/** Per-room positions: de-duplication of pushes and the `since` query of a reconnect. */
export class Positions {
  private readonly rooms = new Map<string, Position>();

  /** The position of `room`, if the client has seen it. */
  get(room: string): Position | undefined {
    const position = this.rooms.get(room);
    return position && { ...position };
  }

  /** Every room's position. */
  entries(): [string, Position][] {
    return [...this.rooms].map(([room, p]) => [room, { ...p }]);
  }

  /**
   * Records a push at `offset` of `epoch`; false when it was already delivered (offset at or
   * below the last seen in the same epoch), so the caller drops it.
   */
  accept(room: string, epoch: string, offset: number): boolean {
    const seen = this.rooms.get(room);
    if (seen && seen.epoch === epoch && offset <= seen.offset) {
      return false;
    }
    this.rooms.set(room, { epoch, offset });
    return true;
  }

  /**
   * Records a `$joined`: the room is at `offset` of `epoch`. In the same epoch the position only
   * moves forward (a replay already delivered up to it).
   */
  joined(room: string, epoch: string, offset: number): void {
    const seen = this.rooms.get(room);
    if (seen && seen.epoch === epoch) {
      seen.offset = Math.max(seen.offset, offset);
    } else {
      this.rooms.set(room, { epoch, offset });
    }
  }

  /** Forgets every room (the next connection asks for no recovery). */
  clear(): void {
    this.rooms.clear();
  }

  /**
   * `url` with one `since=EPOCH:OFFSET:ROOM` per room (percent-encoded, replacing any `since`
   * already in the query).
   */
  urlWithSince(url: string): string {
    const hashAt = url.indexOf("#");
    const base = hashAt < 0 ? url : url.slice(0, hashAt);
    const queryAt = base.indexOf("?");
    const path = queryAt < 0 ? base : base.slice(0, queryAt);
    const kept = queryAt < 0 ? [] : base.slice(queryAt + 1).split("&").filter((p) => p !== "" && !p.startsWith("since="));
    for (const [room, { epoch, offset }] of this.rooms) {
      kept.push(`since=${encodeURIComponent(`${epoch}:${offset}:${room}`)}`);
    }
    return kept.length === 0 ? path : `${path}?${kept.join("&")}`;
  }
}
