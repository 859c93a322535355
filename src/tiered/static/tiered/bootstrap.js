/* tiered bootstrap for htmx 4: loaded with defer after htmx, from the same origin. It needs no
   inline script, no eval and no inline style (CSP: script-src 'self' 'nonce-…'; style-src 'self').
   Everything here is an enhancement: without it, every page still works. */
(() => {
  const doc = document;

  // 1. Tell the server that scripts run here, so later responses may use the enhanced tier.
  if (!/(^|;\s*)tiered_js=/.test(doc.cookie)) {
    doc.cookie = "tiered_js=1; Path=/; Max-Age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }

  // 2. Telemetry, when the page names its endpoints: one beacon per page view says its script
  // ran (the server compares beacons with pages served, per tier, to estimate how many never
  // ran JavaScript), and a few reports per page say which enhancements failed. Both carry the
  // CSRF token and the page's tier, nothing else.
  const csrf = () => doc.querySelector('meta[name="csrf-token"]');
  const page = doc.querySelector('meta[name="tiered-tier"]');
  const post = (url, fields) => {
    const token = csrf();
    if (!url || !token || !navigator.sendBeacon) return;
    const body = new FormData();
    body.append("csrf_token", token.content);
    body.append("tier", page.content);
    for (const name in fields) body.append(name, fields[name]);
    try { navigator.sendBeacon(url, body); } catch (_) { /* telemetry never breaks the page */ }
  };
  let reports = 0;
  const report = (kind) => { if (page && reports++ < 5) post(page.dataset.report, { kind }); };
  if (page) post(page.dataset.beacon, {});

  const focusOn = (el) => {
    if (el.tabIndex < 0) el.tabIndex = -1; // make a heading or box focusable by script only
    el.focus();
  };
  // After a full page load with form errors, start at the error summary.
  const summary = doc.getElementById("error-summary");
  if (summary) focusOn(summary);

  if (!window.htmx) { // htmx did not load (blocked, SRI mismatch): the plain HTML keeps working.
    report("htmx-missing");
    return;
  }

  // Event names assume htmx's default config.metaCharacter (":"); tiered never changes it.
  const on = (name, fn) => doc.addEventListener(name, fn);
  const flash = () => doc.getElementById("flash");
  const problem = (text) => '<div class="problem" role="alert" id="problem"><p><span class="visually-hidden">Error: </span>' + text + "</p></div>";
  const holderOf = (el) => (el && (el.closest("form") || el)) || null;
  const SLOT = "tiered-error-slot";
  const errorSlotAfter = (holder) => {
    if (!holder || !holder.isConnected || holder === doc.body) return null;
    let slot = holder.nextElementSibling;
    if (!slot || !slot.classList.contains(SLOT)) {
      slot = doc.createElement("div");
      slot.className = SLOT;
      holder.after(slot);
    }
    return slot;
  };

  // Only a click or submit by the person moves focus or reports a failure: never polling, load
  // triggers, htmx.ajax() or history restores (their events are synthetic or absent).
  const byPerson = (ctx) => {
    const ev = ctx && ctx.sourceEvent;
    return !!ev && ev.isTrusted && (ev.type === "submit" || ev.type === "click");
  };

  // 3. Every unsafe same-origin request carries the CSRF token as a header.
  on("htmx:config:request", (e) => {
    const req = e.detail.ctx.request;
    const meta = csrf();
    if (meta && !/^(GET|HEAD)$/.test(req.method) &&
        new URL(req.action, location.href).origin === location.origin) {
      req.headers["X-CSRF-Token"] = meta.content;
    }
  });
  // A response may carry a rotated token (e.g. after signing in); htmx never swaps <head>.
  on("htmx:after:request", (e) => {
    const fresh = e.detail.ctx.response.headers.get("X-CSRF-Token");
    const meta = csrf();
    if (fresh && meta) meta.content = fresh;
  });

  // 4. htmx 4 swaps every status except 204/304 into the target. A 422 is the form again, with
  // its errors: let it swap. Other errors go to #flash, unless the element has its own
  // hx-status:CODE rule (htmx applies that rule after this handler).
  on("htmx:response:error", (e) => {
    const ctx = e.detail.ctx;
    const code = String(ctx.response.status);
    const rules = [code, code.slice(0, 2) + "x", code[0] + "xx"].map((p) => "hx-status:" + p);
    const names = ctx.sourceElement ? ctx.sourceElement.getAttributeNames() : [];
    const region = flash();
    if (code === "422" || !region || names.some((n) => rules.includes(n.replace(/^data-/, "")))) return;
    // Where the person is looking: right after the form (or control) they used, replacing any
    // earlier error there; #flash for the rest (polls, live refreshes).
    ctx.target = byPerson(ctx) ? errorSlotAfter(holderOf(ctx.sourceElement)) || region : region;
    ctx.swap = "innerHTML ignoreTitle:true";
    ctx.push = ctx.replace = "false";
    ctx.select = "#problem";
    if (!/\bid=["']?problem["'\s>]/.test(ctx.text)) {
      ctx.text = problem("Something went wrong (error " + code + "). Please try again.");
    }
    // A failing poll leaves the message already shown rather than announcing it again.
    if (!byPerson(ctx) && region.querySelector("#problem")) ctx.swap = "none";
  });
  on("htmx:error", (e) => {
    const ctx = e.detail.ctx;
    report(ctx && !ctx.response ? "network" : "swap");
    const region = flash();
    // No response means the request itself failed (network down, timeout).
    if (region && ctx && !ctx.response && byPerson(ctx)) {
      region.innerHTML = problem("The server could not be reached. Check your connection and try again.");
    }
  });

  // 5. After a swap the person caused, focus [data-autofocus] in the new content, else the error
  // summary; otherwise leave focus alone. (htmx itself focuses [autofocus] after every swap.)
  const tasksOf = new WeakMap();
  const contentOf = new WeakMap();
  on("htmx:before:swap", (e) => tasksOf.set(e.detail.ctx, e.detail.tasks));
  on("htmx:after:settle", (e) => contentOf.set(e.detail.task, e.detail.newContent));
  on("htmx:after:swap", (e) => {
    const ctx = e.detail.ctx;
    if (!byPerson(ctx)) return;
    const slot = ctx.target instanceof Element && ctx.target.classList.contains(SLOT) ? ctx.target : null;
    const shown = slot && slot.querySelector("#problem");
    if (shown) {
      shown.removeAttribute("id"); // #flash may hold the page's one #problem
      shown.tabIndex = -1;
      return focusOn(shown);
    }
    const roots = (tasksOf.get(ctx) || []).flatMap((t) => contentOf.get(t) || [])
      .filter((n) => n.nodeType === 1 && n.isConnected);
    for (const sel of ["[data-autofocus]", "#error-summary"]) {
      for (const root of roots) {
        const el = root.matches(sel) ? root : root.querySelector(sel);
        if (el) return focusOn(el);
      }
    }
  });

  // 6. A request the person caused holds its form (or its element): a second click or submit
  // sends nothing more until the answer comes, and after 300 ms without one the holder shows
  // that it is waiting (aria-busy, and tiered.css's .tiered-busy indicator). Buttons are marked
  // aria-disabled rather than disabled, so the one that has the keyboard focus keeps it.
  const BUSY_AFTER_MS = 300;
  const holds = new Map();
  const release = (ctx) => {
    const hold = holds.get(ctx);
    if (!hold) return;
    holds.delete(ctx);
    clearTimeout(hold.timer);
    hold.holder.removeAttribute("aria-busy");
    hold.holder.classList.remove("tiered-busy", "tiered-held");
    for (const b of hold.buttons) b.removeAttribute("aria-disabled");
  };
  on("htmx:before:request", (e) => {
    const ctx = e.detail.ctx;
    const holder = byPerson(ctx) ? holderOf(ctx.sourceElement) : null;
    if (!holder) return;
    const buttons = [...holder.querySelectorAll("button, input[type=submit]")];
    if (holder.matches("button, input[type=submit]")) buttons.push(holder);
    holder.classList.add("tiered-held");
    for (const b of buttons) b.setAttribute("aria-disabled", "true");
    const timer = setTimeout(() => {
      holder.setAttribute("aria-busy", "true");
      holder.classList.add("tiered-busy");
    }, BUSY_AFTER_MS);
    holds.set(ctx, { holder, buttons, timer });
  });
  on("htmx:finally:request", (e) => release(e.detail.ctx));
  // A new request by the person clears the messages of the last one, the errors beside controls
  // and #flash alike: what shows is about what they did last (one message at a time).
  on("htmx:before:request", (e) => {
    if (!byPerson(e.detail.ctx)) return;
    for (const slot of doc.querySelectorAll("." + SLOT)) slot.replaceChildren();
    const region = flash();
    if (region) region.replaceChildren();
  });
  for (const type of ["click", "submit"]) {
    doc.addEventListener(type, (e) => {
      const held = e.target instanceof Element && e.target.closest(".tiered-held");
      if (held && (type === "submit" || e.target.closest("button, input[type=submit], a"))) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    }, true);
  }

  // 7. A GET that a form or its fields send (typing, Enter, a change), asking a region for what
  // it already shows or is loading, is not sent again: typing, a pause and then Enter in a search
  // box (htmx hears input, search and submit) is one request, not three; a press of the form's
  // button still moves the focus as its answer would have. Links and timers always go (a
  // "Refresh" link, a poll). A failed request, or history moving, forgets what was asked.
  const FORM_EVENT = /^(input|change|search|keyup|submit)$/;
  const asked = new Map(); // a region's id -> the query it last asked for
  const askedBy = new WeakMap(); // a request's ctx -> [region id, query]
  const queryOf = (req) => {
    const url = new URL(req.action, location.href);
    const pairs = new Set([...url.searchParams].map(([k, v]) => k + "=" + v));
    if (req.body) {
      for (const k of new Set(req.body.keys())) {
        for (const p of [...pairs]) if (p.startsWith(k + "=")) pairs.delete(p);
      }
      for (const [k, v] of req.body) if (typeof v === "string") pairs.add(k + "=" + v);
    }
    return url.pathname + "?" + [...pairs].sort().join("&");
  };
  on("htmx:config:request", (e) => {
    const ctx = e.detail.ctx;
    const target = typeof ctx.target === "string" ? doc.querySelector(ctx.target) : ctx.target;
    if (ctx.request.method !== "GET" || !(target instanceof Element) || !target.id) return;
    const query = queryOf(ctx.request);
    const ev = ctx.sourceEvent;
    if (ev && FORM_EVENT.test(ev.type) && asked.get(target.id) === query) {
      e.preventDefault();
      // What the answer would have done for the person: focus the region's [data-autofocus].
      const el = byPerson(ctx) && (target.matches("[data-autofocus]") ? target : target.querySelector("[data-autofocus]"));
      if (el) focusOn(el);
      return;
    }
    asked.set(target.id, query);
    askedBy.set(ctx, [target.id, query]);
  });
  const forget = (e) => {
    const [id, query] = askedBy.get(e.detail.ctx) || [];
    if (id && asked.get(id) === query) asked.delete(id);
  };
  on("htmx:response:error", forget);
  on("htmx:error", forget);
  window.addEventListener("popstate", () => asked.clear());
  window.addEventListener("pageshow", (e) => { if (e.persisted) asked.clear(); });

  // 8. A request the person did not make (a poll, a live refresh) never takes the page elsewhere
  // or changes it while it is being left: what they were typing stays, and a page being left
  // for another (Log out, a link) is not redrawn meanwhile by an answer about the old one. An
  // answer that would redirect shows a link in #flash instead. A page still here 10 s after it
  // began to leave (a download, a 204) was not left.
  let leftAt = -Infinity;
  window.addEventListener("beforeunload", () => { leftAt = Date.now(); });
  window.addEventListener("pageshow", () => { leftAt = -Infinity; });
  on("htmx:before:response", (e) => {
    const ctx = e.detail.ctx;
    if (byPerson(ctx)) return;
    if (Date.now() - leftAt < 10000) { e.preventDefault(); return; }
    const to = ctx.hx && (ctx.hx.redirect || ctx.hx.location || (ctx.hx.refresh === "true" && location.href));
    if (!to) return;
    e.preventDefault();
    const region = flash();
    if (!region || region.querySelector("[data-tiered-stale]")) return;
    const note = doc.createElement("p");
    note.className = "flash-warning";
    note.dataset.tieredStale = "";
    const link = doc.createElement("a");
    link.href = String(to).startsWith("{") ? location.href : String(to);
    link.textContent = "Continue";
    note.append("This page has stopped updating itself. ", link, ".");
    region.replaceChildren(note);
  });

  // 9. Optimistic changes: an element with data-tiered-optimistic="CLASS" (and
  // data-tiered-optimistic-from="SELECTOR", the forms inside it that change it) flips CLASS as
  // soon as the person sends one of those forms, before the answer; the answer's swap then shows
  // the server's state. If the request fails, the class flips back (and the error shows beside
  // the form, as every error does).
  const flipped = new WeakMap();
  on("htmx:before:request", (e) => {
    const ctx = e.detail.ctx;
    const form = byPerson(ctx) && holderOf(ctx.sourceElement);
    const el = form && form.parentElement && form.parentElement.closest("[data-tiered-optimistic]");
    if (!el || !form.matches(el.dataset.tieredOptimisticFrom || "form")) return;
    el.classList.toggle(el.dataset.tieredOptimistic);
    flipped.set(ctx, el);
  });
  const flipBack = (e) => {
    const el = flipped.get(e.detail.ctx);
    if (el && el.isConnected) el.classList.toggle(el.dataset.tieredOptimistic);
    flipped.delete(e.detail.ctx);
  };
  on("htmx:response:error", flipBack);
  on("htmx:error", flipBack);
})();
