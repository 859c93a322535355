/* tiered live updates (the browser half of tiered.live): loaded with defer after htmx, htmx 4's SSE
   extension (vendor/htmx/hx-sse.min.js) and bootstrap.js, from the same origin. No inline script,
   no eval, no build step. Without it a page still works; it just does not update by itself.

   A page marks one element (outside the region it refetches, so a refetch does not restart it):

     <div data-tiered-live
          data-tiered-live-stream="/tasks/live"       (Server-Sent Events; full tier only)
          data-tiered-live-poll="/tasks/live/poll"    (JSON poll: the lite tier, and the fallback)
          data-tiered-live-cursor="{{ cursor }}"      (taken before the page read its data)
          data-tiered-live-origin="{{ origin }}"      (this page's id: its own changes are skipped)
          data-tiered-live-interval="15">             (seconds between polls)

   and the region refetches on the event this script dispatches on that element (it bubbles):

     <section id="results" data-hx-get="/tasks" data-hx-select="#results" data-hx-swap="outerHTML"
              data-hx-trigger="tiered:live from:body">

   Events: "tiered:live" at most once per 250 ms, with detail {id, kind, data, origin} of the
   latest event, `events` (every event of the burst, in order) and `refresh` (true when the server
   could not tell what changed); plus "tiered:live:refresh" when `refresh` is true. Events whose
   origin is this page's are dropped: the page already shows its own change.

   The stream uses htmx's extension rather than a hand-made EventSource: it reconnects with
   Last-Event-ID and backoff, pauses while the tab is hidden, and goes through htmx's request
   pipeline (so bootstrap.js's headers apply). Its attribute, data-hx-sse:connect, is set here
   on a hidden element inside the marker at run time, once htmx has processed the page (set in
   the served HTML, htmx's first pass and this script would open two streams); renaming htmx's
   meta character instead would rename every htmx event bootstrap.js listens to. When the stream cannot connect, or drops 3 times within 30 s, polling takes over
   from the last cursor (If-None-Match makes a quiet answer a bodiless 304); polling stops while
   the tab is hidden. */
(() => {
  const doc = document;
  if (!window.htmx) return; // no htmx (the core tier, or it failed to load): nothing to drive

  const ORIGIN_HEADER = "X-Tiered-Live-Origin";
  const COALESCE_MS = 250;
  const FAILURES = 3;
  const FAILURE_WINDOW_MS = 30000;
  const SHORT_STREAM_MS = 10000; // a stream that ends sooner than this counts as a failure
  const NO_EXTENSION_MS = 2000; // the extension sends its request at once; none by then: no SSE
  const tierMeta = doc.querySelector('meta[name="tiered-tier"]');
  const fullTier = !tierMeta || tierMeta.content === "full";
  const feeds = new Set();
  const attached = new WeakSet();

  const sameOrigin = (url) => new URL(url, location.href).origin === location.origin;
  const keyOf = (el) => (el.dataset.tieredLiveStream || "") + " " + (el.dataset.tieredLivePoll || "");
  const feedOf = (el) => [...feeds].find((feed) => feed.marker === el);
  const withCursor = (url, cursor) => {
    const u = new URL(url, location.href);
    if (cursor) u.searchParams.set("cursor", cursor);
    return u.origin === location.origin ? u.pathname + u.search : u.href;
  };

  class Feed {
    constructor(marker) {
      const data = marker.dataset;
      this.marker = marker;
      this.key = keyOf(marker);
      this.stream = data.tieredLiveStream || "";
      this.pollUrl = data.tieredLivePoll || "";
      this.cursor = data.tieredLiveCursor || "";
      this.origin = data.tieredLiveOrigin || "";
      this.interval = Math.max(1, parseFloat(data.tieredLiveInterval) || 15) * 1000;
      this.mode = "idle";
      this.pending = [];
      this.flushTimer = null;
      this.etag = null;
      this.pollTimer = null;
      this.polling = false;
      this.delay = this.interval;
      this.failures = [];
      this.connector = null;
      this.connection = null;
      this.openedAt = 0;
      this.wasHidden = false;
      this.onVisibility = () => this.visibilityChanged();
    }

    start() {
      feeds.add(this);
      doc.addEventListener("visibilitychange", this.onVisibility);
      if (fullTier && this.stream) this.startStream();
      else if (this.pollUrl) this.startPolling();
    }

    stop() {
      this.stopStream();
      clearTimeout(this.pollTimer);
      clearTimeout(this.flushTimer);
      doc.removeEventListener("visibilitychange", this.onVisibility);
      this.mode = "stopped";
      feeds.delete(this);
    }

    // --- Server-Sent Events, through htmx's extension

    startStream() {
      this.mode = "stream";
      const c = doc.createElement("span");
      c.hidden = true;
      c.setAttribute("data-hx-sse:connect", withCursor(this.stream, this.cursor));
      let requested = false;
      const on = (name, fn) => c.addEventListener(name, fn);
      on("htmx:before:request", () => { requested = true; });
      // Only an answer that is not a stream reaches the page (the extension takes streams): a
      // 429 or 503 problem, say. Do not let htmx swap it anywhere; poll instead.
      on("htmx:before:response", (e) => { e.preventDefault(); this.fallBack(); });
      on("htmx:error", () => this.fallBack()); // the first connection failed outright
      on("htmx:sse:after:connection", (e) => {
        this.connection = e.detail.connection;
        this.openedAt = Date.now();
      });
      on("htmx:sse:before:connection", (e) => {
        if (this.mode !== "stream") { e.detail.connection.cancelled = true; return; }
        if (e.detail.connection.attempt > 0 && this.openedAt) { // the stream ended; reconnecting
          if (Date.now() - this.openedAt < SHORT_STREAM_MS && !this.wasHidden) this.failed();
          this.openedAt = 0;
          this.wasHidden = false;
        }
      });
      on("htmx:sse:error", () => this.failed());
      on("htmx:sse:close", () => { if (this.mode === "stream") this.fallBack(); });
      on("htmx:sse:before:message", (e) => {
        e.preventDefault(); // named events are handled here, not dispatched by their kind
        const m = e.detail.message;
        if (m.id) this.cursor = m.id;
        let payload = {};
        try { payload = JSON.parse(m.data || "{}"); } catch (_) { /* not ours; keep the kind */ }
        this.receive({ id: m.id, kind: m.event || "message", data: payload.data || {}, origin: payload.origin || null });
      });
      this.connector = c;
      // Inside the marker, which is outside every region the page swaps, and only now, after
      // htmx's first pass over the page: nothing processes it again and opens a second stream.
      // (A DOM with it beside <body> is one that no HTML document serialises to.)
      this.marker.appendChild(c);
      htmx.process(c);
      setTimeout(() => { if (!requested && this.mode === "stream") this.fallBack(); }, NO_EXTENSION_MS);
    }

    stopStream() {
      const c = this.connector;
      this.connector = null;
      if (this.connection && this.connection.lastEventId) this.cursor = this.connection.lastEventId;
      this.connection = null;
      if (!c) return;
      c.removeAttribute("data-hx-sse:connect");
      if (c.isConnected) htmx.process(c, true); // htmx's cleanup ends the extension's stream
      c.remove();
    }

    failed() {
      const now = Date.now();
      this.failures = this.failures.filter((t) => now - t < FAILURE_WINDOW_MS);
      this.failures.push(now);
      if (this.failures.length >= FAILURES) this.fallBack();
    }

    fallBack() {
      if (this.mode !== "stream") return;
      this.mode = "falling-back";
      // After the current htmx event: the extension or htmx may still be using the connector.
      setTimeout(() => {
        this.stopStream();
        if (this.pollUrl) this.startPolling();
        else this.mode = "idle";
      });
    }

    // --- Polling

    startPolling() {
      this.mode = "poll";
      this.schedule(0); // at once: catch up from where the stream (or the page) left off
    }

    schedule(ms) {
      clearTimeout(this.pollTimer);
      if (this.mode === "poll" && !doc.hidden) this.pollTimer = setTimeout(() => this.poll(), ms);
    }

    async poll() {
      if (this.polling || this.mode !== "poll" || doc.hidden) return;
      this.polling = true;
      let next = this.interval;
      try {
        const headers = { Accept: "application/json" };
        if (this.etag) headers["If-None-Match"] = this.etag;
        const response = await fetch(withCursor(this.pollUrl, this.cursor), {
          headers, cache: "no-store", credentials: "same-origin",
        });
        if (response.status === 200) {
          const body = await response.json();
          this.etag = response.headers.get("ETag");
          for (const event of body.events || []) this.receive(event);
          if (body.refresh && !(body.events || []).some((e) => e.kind === "refresh")) {
            this.receive({ id: body.cursor, kind: "refresh", data: {}, origin: null });
          }
          this.cursor = body.cursor || this.cursor;
          this.delay = this.interval;
        } else if (response.status !== 304) {
          const wait = parseFloat(response.headers.get("Retry-After"));
          this.delay = Math.min(this.delay * 2, this.interval * 8);
          next = wait > 0 ? Math.max(wait * 1000, this.interval) : this.delay;
        }
      } catch (_) { // offline, or the server is restarting: back off, keep trying
        this.delay = Math.min(this.delay * 2, this.interval * 8);
        next = this.delay;
      } finally {
        this.polling = false;
      }
      this.schedule(next);
    }

    visibilityChanged() {
      if (doc.hidden) {
        this.wasHidden = true;
        clearTimeout(this.pollTimer);
      } else if (this.mode === "poll") {
        this.schedule(0);
      }
    }

    // --- Delivery to the page

    receive(event) {
      if (!this.marker.isConnected && !adopt(this)) return;
      if (event.origin && event.origin === this.origin) return; // this page's own change
      this.pending.push(event);
      if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), COALESCE_MS);
    }

    flush() {
      const events = this.pending;
      this.pending = [];
      this.flushTimer = null;
      if (!events.length) return;
      const refresh = events.some((e) => e.kind === "refresh");
      const detail = Object.assign({}, events[events.length - 1], { events, refresh });
      const target = this.marker.isConnected ? this.marker : doc.body;
      if (refresh) target.dispatchEvent(new CustomEvent("tiered:live:refresh", { bubbles: true, detail }));
      target.dispatchEvent(new CustomEvent("tiered:live", { bubbles: true, detail }));
    }
  }

  // A marker swapped out and back in (a boosted navigation, a refetch that includes it) takes over
  // the running feed of the same URLs instead of opening a second connection.
  // Returns whether the feed has a marker on the page again; stops it otherwise.
  const adopt = (feed) => {
    for (const el of doc.querySelectorAll("[data-tiered-live]")) {
      if (keyOf(el) === feed.key && !feedOf(el)) {
        feed.marker = el;
        attached.add(el);
        return true;
      }
    }
    feed.stop();
    return false;
  };

  const attach = (marker) => {
    if (attached.has(marker)) return;
    attached.add(marker);
    const key = keyOf(marker);
    const running = [...feeds].find((feed) => feed.key === key && !feed.marker.isConnected);
    if (running) running.marker = marker;
    else new Feed(marker).start();
  };

  const scan = (root) => {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches("[data-tiered-live]")) attach(root);
    root.querySelectorAll("[data-tiered-live]").forEach(attach);
  };

  // Every change this page's htmx requests make carries its origin id, for the route to publish.
  doc.addEventListener("htmx:config:request", (e) => {
    const ctx = e.detail.ctx;
    const source = ctx.sourceElement;
    const marker = (source && source.closest && source.closest("[data-tiered-live]")) ||
      doc.querySelector("[data-tiered-live][data-tiered-live-origin]");
    const origin = marker && marker.dataset.tieredLiveOrigin;
    if (origin && sameOrigin(ctx.request.action)) ctx.request.headers[ORIGIN_HEADER] = origin;
  });

  // After a swap, a feed whose marker left the page (and was not replaced) stops.
  doc.addEventListener("htmx:after:swap", () => {
    setTimeout(() => {
      for (const feed of [...feeds]) if (!feed.marker.isConnected) adopt(feed);
    });
  });

  htmx.onLoad(scan); // content htmx processes, the page itself included
  // And the page, once htmx has started (it starts on DOMContentLoaded, or at once if later).
  const scanPage = () => setTimeout(() => scan(doc.body));
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", scanPage);
  else scanPage();
})();
