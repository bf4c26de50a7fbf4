// The view half that StreamView, FrameInspector and LiveTrace share (see wpsnb/notebook/live_widget.py).
//
// A live view shows the store's records as rows of `list` inside `scroller`. At the bottom of the
// scroller it follows the tail; scrolled up or paused it leaves the rows alone and counts what it
// has not shown, behind "Jump to latest" and "Resume (n new)". It touches the DOM at most once per
// animation frame. The widget supplies the layout, how a record becomes a row, which records its
// filters let through, and its own header and menus.

import { atBottom, formatCount, frameScheduler, h } from "./dom.js";

const OFFLINE_TITLE = "Saved output: the kernel that made this view does not answer";

// The elements every live view has; the widget places them in its own layout.
export function liveControls() {
  return {
    title: h("span", { class: "wpsnb-title" }),
    stateBadge: h("span", { class: "wpsnb-state" }),
    count: h("span", { class: "wpsnb-count" }),
    rate: h("span", { class: "wpsnb-rate" }),
    pauseButton: h("button", { class: "wpsnb-button wpsnb-pause", type: "button" }),
    clearButton: h("button", { class: "wpsnb-button wpsnb-clear", type: "button", text: "Clear" }),
    shown: h("span", { class: "wpsnb-shown" }),
    jump: h("button", { class: "wpsnb-button wpsnb-jump", type: "button", hidden: true }),
  };
}

// The state the badge shows: what the page knows first (no kernel, closed), then the widget's own.
export function headerState(store, fallback, paused = false) {
  const hd = store.header || {};
  if (store.offline) return "offline";
  if (hd.closed) return "closed";
  if (paused) return "paused";
  return hd.state || fallback;
}

// Refill a filter <select> ("all" first, then the values sorted), keeping the choice if it still exists.
export function fillSelect(select, values, allLabel) {
  const selected = select.value;
  const names = [...values].sort();
  select.replaceChildren(
    h("option", { value: "", text: allLabel }),
    ...names.map((v) => h("option", { value: v, text: v })),
  );
  select.value = names.includes(selected) ? selected : "";
  return names;
}

export class LiveView {
  // hooks: paintHeader() when the header changed; paintMenus() every frame, before the rows;
  // afterRows() once new rows are in; onChange(change) for the widget's own use of a store change.
  constructor({ model, store, root, list, scroller, controls, renderRow, matches, hooks }) {
    Object.assign(this, { model, store, root, list, scroller, controls, renderRow, matches, hooks });
    this.filter = {}; // the widget's filter values by name; `matches` reads them
    this.following = true; // the scroller is at its bottom: new rows show and keep it there
    this.stale = false; // records arrived that the DOM does not show (paused, or scrolled up)
    this.unseen = 0;
    this.reset = true; // render the rows from the store, not just the queue
    this.forced = false; // a user action asks for a full render
    this.queue = []; // records to append on the next frame
    this.headerDirty = true;
    this.schedule = frameScheduler(() => this.paint());
    this.wireControls();
    this.unsubscribe = store.subscribe((change) => this.onChange(change));
  }

  rowLimit() {
    return Math.max(1, this.model.get("rows") || 1000);
  }

  forceRender() {
    this.forced = true;
    this.schedule();
  }

  repaintHeader() {
    this.headerDirty = true;
    this.schedule();
  }

  // The parts of the header both widgets have, and the root's data-state and data-count hooks.
  paintHeaderBase({ state, badgeText = state, defaultTitle, countText }) {
    const { title, stateBadge, count, rate } = this.controls;
    const hd = this.store.header || {};
    stateBadge.title = this.store.offline ? OFFLINE_TITLE : "";
    title.textContent = this.model.get("title") || defaultTitle;
    stateBadge.textContent = badgeText;
    stateBadge.className = `wpsnb-state wpsnb-state-${state}`;
    count.textContent = countText;
    rate.textContent = this.store.offline ? "" : `${Number(hd.rate || 0).toFixed(1)}/s`;
    this.root.dataset.state = state;
    this.root.dataset.count = String(hd.count || 0);
  }

  // A filter control: keep its value under filter[key] and show the rows anew.
  bindFilter(control, event, key, read = () => control.value) {
    control.addEventListener(event, () => {
      this.filter[key] = read();
      this.forceRender();
    });
  }

  paintRows() {
    const limit = this.rowLimit();
    const fragment = document.createDocumentFragment();
    if (this.reset) {
      for (const record of this.store.records.filter(this.matches).slice(-limit)) {
        fragment.append(this.renderRow(record));
      }
      this.list.replaceChildren(fragment);
    } else if (this.queue.length) {
      for (const record of this.queue.filter(this.matches).slice(-limit)) fragment.append(this.renderRow(record));
      this.list.append(fragment);
      let excess = this.list.childElementCount - limit;
      while (excess-- > 0) this.list.firstElementChild.remove();
    }
    this.reset = false;
    this.queue = [];
    this.stale = false;
    this.unseen = 0;
    this.hooks.afterRows?.();
    if (this.following) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  paint() {
    const { pauseButton, shown, jump } = this.controls;
    if (this.headerDirty) {
      this.headerDirty = false;
      this.hooks.paintHeader();
    }
    this.hooks.paintMenus?.();
    const paused = this.model.get("paused");
    if (this.forced) {
      // A user action (filter, jump, resume, clear): render now, wherever the view is scrolled.
      this.forced = false;
      this.reset = true;
      this.paintRows();
      jump.hidden = true;
    } else if (paused || !this.following) {
      if (this.stale && !this.following) {
        jump.hidden = false;
        jump.textContent = `Jump to latest (${formatCount(this.unseen)} new)`;
      }
    } else if (this.reset || this.queue.length) {
      this.paintRows();
      jump.hidden = true;
    }
    pauseButton.textContent = paused ? `Resume${this.unseen ? ` (${formatCount(this.unseen)} new)` : ""}` : "Pause";
    const total = this.store.records.length;
    const rendered = this.list.childElementCount;
    this.root.dataset.paused = paused ? "true" : "false";
    this.root.dataset.stored = String(total);
    this.root.dataset.rows = String(rendered);
    shown.textContent =
      rendered < total
        ? `showing ${formatCount(rendered)} of ${formatCount(total)} records`
        : `${formatCount(total)} records`;
  }

  onChange(change) {
    if (change.cleared) this.forced = true; // emptied: show it, wherever the view is scrolled
    if (change.reset) {
      this.reset = true;
      this.queue = [];
      this.stale = true;
    }
    if (change.appended) {
      if (!this.reset) {
        this.queue.push(...change.appended);
        // More queued than the DOM can show: a full render from the store is cheaper.
        if (this.queue.length > this.rowLimit()) {
          this.reset = true;
          this.queue = [];
        }
      }
      this.stale = true;
      this.unseen += change.appended.length;
    }
    if (change.header) this.headerDirty = true;
    this.hooks.onChange?.(change);
    this.schedule();
  }

  wireControls() {
    const { model, store, scroller } = this;
    const { pauseButton, clearButton, jump } = this.controls;
    scroller.addEventListener("scroll", () => {
      const bottom = atBottom(scroller);
      if (bottom === this.following) return;
      this.following = bottom;
      if (bottom && this.stale) this.reset = true;
      if (bottom) jump.hidden = true;
      this.schedule();
    });
    jump.addEventListener("click", () => {
      this.following = true;
      this.forceRender();
    });
    pauseButton.addEventListener("click", () => {
      model.set("paused", !model.get("paused"));
      model.save_changes();
    });
    clearButton.addEventListener("click", () => {
      store.records = [];
      store.emit({ reset: true, cleared: true });
      model.send({ kind: "clear" });
    });
    model.on("change:paused", () => {
      if (!model.get("paused")) this.forced = true; // resumed: show what waited
      this.schedule();
    });
    model.on("change:title", () => this.repaintHeader());
  }
}
