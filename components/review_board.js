// The review board in the browser: cards, the cursor, the filter and the selection live here, so a key moves
// the cursor at once. Decisions wait in an outbox (kept in localStorage until the server says they are
// recorded) and are sent in the order made as the component's `outbox` state.
const LOOKS = {
  approved: ["✓", "approved"],
  rejected: ["✕", "rejected"],
  pending: ["◷", "pending"],
  missing: ["⊘", "missing"],
  failed: ["!", "failed"],
};
const FILTERS = ["all", "pending", "rejected", "failed", "approved"];
const boards = new WeakMap();

function stored(name, fallback) {
  try {
    const text = window.localStorage.getItem(name);
    return text === null ? fallback : JSON.parse(text);
  } catch (error) {
    return fallback;
  }
}

function store(name, value) {
  try {
    window.localStorage.setItem(name, JSON.stringify(value));
  } catch (error) {
    /* private mode or full: the outbox still lives in this tab */
  }
}

function element(tag, attributes, text) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) made.setAttribute(name, value);
  if (text !== undefined) made.textContent = text;
  return made;
}

function create(root, component) {
  const shell = element("div", { class: "board" });
  shell.innerHTML = `
    <div class="bar" role="toolbar" aria-label="Review board">
      <span class="filters" role="radiogroup" aria-label="Show"></span>
      <span class="selection">
        <button type="button" data-act="select">Select pending shown</button>
        <button type="button" data-act="clear">Clear</button>
        <button type="button" data-act="approve-selected" class="primary">Approve selected</button>
      </span>
      <span class="confirm" hidden>
        <span class="question"></span>
        <button type="button" data-act="confirm" class="primary"></button>
        <button type="button" data-act="cancel">Cancel</button>
      </span>
      <span class="reject" hidden>
        <label><span class="what"></span> <input type="text" maxlength="500" autocomplete="off"
          placeholder="why: e.g. too dark, wrong coat"></label>
        <span class="problem" role="alert"></span>
      </span>
      <span class="where" aria-live="polite"></span>
      <span class="message" role="status"></span>
    </div>
    <div class="keys">← → ↑ ↓ move · A approve · R reject (type the reason, Enter) · Space select ·
      V or Enter open · filters and selection apply to the cards shown</div>
    <div class="grid" role="grid" tabindex="-1"></div>`;
  root.appendChild(shell);
  const state = {
    component,
    shell,
    grid: shell.querySelector(".grid"),
    cards: [],
    byRef: new Map(),
    elements: new Map(),
    cursor: null,
    filter: "all",
    selected: new Set(),
    outbox: [],
    job: null,
    turn: null,
    confirming: 0,
    rejecting: null,
    message: "",
    listener: null,
  };
  shell.addEventListener("click", (event) => clicked(state, event));
  const input = shell.querySelector(".reject input");
  input.addEventListener("input", () => {
    if (input.value.trim()) shell.querySelector(".reject .problem").textContent = "";
  });
  input.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter") {
      event.preventDefault();
      rejectWith(state, input.value);
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeReject(state);
    }
  });
  return state;
}

function shownCards(state) {
  return state.cards.filter((card) =>
    state.filter === "all" ? true : statusOf(state, card) === state.filter,
  );
}

function waiting(state, ref) {
  return state.outbox.filter((item) => item.ref === ref);
}

function statusOf(state, card) {
  const queued = waiting(state, card.ref);
  if (queued.length) return queued[queued.length - 1].decision === "approve" ? "approved" : "rejected";
  return card.status;
}

function say(state, text, tone = "problem") {
  state.message = text;
  const message = state.shell.querySelector(".message");
  message.textContent = text;
  message.dataset.tone = tone; // "problem" in red; "done" (a bulk approval sent) in the text's colour
}

function drawFilters(state) {
  const counts = Object.fromEntries(FILTERS.map((name) => [name, 0]));
  for (const card of state.cards) {
    counts.all += 1;
    const status = statusOf(state, card);
    if (status in counts) counts[status] += 1;
  }
  const holder = state.shell.querySelector(".filters");
  holder.replaceChildren(
    ...FILTERS.map((name) => {
      const chip = element("button", {
        type: "button",
        role: "radio",
        "data-filter": name,
        "aria-checked": String(state.filter === name),
      });
      chip.textContent = `${name} · ${counts[name]}`;
      return chip;
    }),
  );
}

function drawCard(state, card) {
  let made = state.elements.get(card.ref);
  if (!made) {
    made = element("div", { class: "card", role: "gridcell", "data-ref": card.ref });
    made.innerHTML = `<div class="picture"><span class="badge"></span>
      <input type="checkbox" class="pick" aria-label="Select ${card.ref}"></div>
      <div class="text"></div><div class="meta"></div>`;
    state.elements.set(card.ref, made);
  }
  const status = statusOf(state, card);
  const [icon, word] = LOOKS[status] || LOOKS.missing;
  made.dataset.status = status;
  made.toggleAttribute("data-saving", waiting(state, card.ref).length > 0);
  const picture = made.querySelector(".picture");
  let image = picture.querySelector("img");
  if (card.thumb) {
    if (!image) {
      image = element("img", { alt: card.text || card.ref, decoding: "async", loading: "lazy" });
      picture.prepend(image);
    }
    if (image.getAttribute("src") !== card.thumb) image.setAttribute("src", card.thumb);
  } else if (image) {
    image.remove();
  }
  const saving = waiting(state, card.ref).length ? " · saving…" : "";
  made.querySelector(".badge").textContent = `${icon} ${word}${card.version ? ` · v${card.version}` : ""}${saving}`;
  made.querySelector(".badge").setAttribute("title", word);
  const pick = made.querySelector(".pick");
  pick.hidden = status !== "pending" || !state.mayReview;
  pick.checked = state.selected.has(card.ref);
  made.querySelector(".text").textContent = card.text || card.ref;
  made.querySelector(".text").setAttribute("title", card.text || "");
  const meta = [card.ref];
  if (card.reason && status === "rejected") meta.push(`“${card.reason}”`);
  if (card.note) meta.push(card.note);
  made.querySelector(".meta").textContent = meta.join(" · ");
  return made;
}

function draw(state) {
  const shown = shownCards(state);
  const refs = new Set(shown.map((card) => card.ref));
  for (const ref of state.selected) if (!refs.has(ref)) state.selected.delete(ref);
  if (!refs.has(state.cursor)) state.cursor = shown.length ? nearest(state, shown) : null;
  const wanted = shown.map((card) => drawCard(state, card));
  const present = [...state.grid.children];
  if (present.length !== wanted.length || present.some((child, index) => child !== wanted[index])) {
    state.grid.replaceChildren(...wanted);
  }
  drawFilters(state);
  drawBar(state, shown);
  placeCursor(state, false);
}

function nearest(state, shown) {
  const order = state.cards.map((card) => card.ref);
  const from = order.indexOf(state.cursor);
  const after = shown.find((card) => order.indexOf(card.ref) > from);
  return (after || shown[0]).ref;
}

function drawBar(state, shown) {
  const pending = shown.filter((card) => statusOf(state, card) === "pending");
  const chosen = [...state.selected];
  const bar = state.shell;
  const [select, clear, approve] = bar.querySelectorAll(".selection button");
  select.textContent = `Select pending shown (${pending.length})`;
  select.disabled = !pending.length || !state.mayReview;
  clear.disabled = !chosen.length;
  approve.textContent = `Approve selected (${chosen.length})`;
  approve.disabled = !chosen.length || !state.mayReview;
  bar.querySelector(".selection").hidden = state.confirming > 0;
  const confirm = bar.querySelector(".confirm");
  confirm.hidden = state.confirming === 0;
  confirm.querySelector(".question").textContent = `Approve ${state.confirming} selected references?`;
  confirm.querySelector('[data-act="confirm"]').textContent = `Approve ${state.confirming}`;
  const index = shown.findIndex((card) => card.ref === state.cursor);
  bar.querySelector(".where").textContent =
    state.cursor === null ? "No references shown." : `${state.cursor} · ${index + 1} of ${shown.length}`;
}

function placeCursor(state, follow) {
  for (const made of state.grid.querySelectorAll('[aria-current="true"]')) {
    if (made.dataset.ref !== state.cursor) made.removeAttribute("aria-current");
  }
  const current = state.elements.get(state.cursor);
  if (!current) return;
  current.setAttribute("aria-current", "true");
  if (state.job) store(`review-cursor-${state.job}`, state.cursor);
  if (follow) current.scrollIntoView({ block: "nearest", inline: "nearest" });
}

function columns(state) {
  const cells = state.grid.children;
  if (cells.length < 2) return 1;
  const top = cells[0].offsetTop;
  let count = 1;
  while (count < cells.length && cells[count].offsetTop === top) count += 1;
  return count;
}

function move(state, offset, wrap = true) {
  const shown = shownCards(state);
  if (!shown.length) return;
  const index = shown.findIndex((card) => card.ref === state.cursor);
  let next = index + offset;
  if (wrap) next = ((next % shown.length) + shown.length) % shown.length;
  else next = Math.max(0, Math.min(shown.length - 1, next));
  state.cursor = shown[next].ref;
  drawBar(state, shown);
  placeCursor(state, true);
}

function nextPending(state, from) {
  const shown = shownCards(state);
  const start = shown.findIndex((card) => card.ref === from);
  for (let step = 1; step <= shown.length; step += 1) {
    const card = shown[(start + step) % shown.length];
    if (statusOf(state, card) === "pending") return card.ref;
  }
  const after = shown[(start + 1) % shown.length];
  return after ? after.ref : from;
}

function send(state) {
  store(`review-outbox-${state.job}`, state.outbox);
  state.component.setStateValue("outbox", state.outbox.slice());
}

function decide(state, refs, decision, reason) {
  if (!state.mayReview) {
    say(state, "Only reviewers approve or reject.");
    return false;
  }
  let added = 0;
  for (const ref of refs) {
    const card = state.byRef.get(ref);
    if (!card || !card.version) continue;
    if (decision === "approve" && statusOf(state, card) === "approved") continue;
    state.sequence = (state.sequence || 0) + 1;
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${state.sequence}`;
    const made_at = Date.now() / 1000;
    state.outbox.push({ id, ref, version: card.version, decision, reason: reason || null, made_at });
    added += 1;
  }
  if (added) send(state);
  return added > 0;
}

function approveCursor(state) {
  const card = state.byRef.get(state.cursor);
  if (!card) return;
  if (!card.version) {
    say(state, `${card.ref} has no image to approve yet.`);
    return;
  }
  const already = statusOf(state, card) === "approved";
  if (!decide(state, [card.ref], "approve")) {
    if (already) say(state, `${card.ref} was already approved.`);
    else return;
  } else {
    say(state, "");
  }
  const following = nextPending(state, card.ref);
  draw(state);
  state.cursor = following;
  drawBar(state, shownCards(state));
  placeCursor(state, true);
}

function openReject(state) {
  const card = state.byRef.get(state.cursor);
  if (!card || !card.version || !state.mayReview) {
    say(state, card && card.version ? "Only reviewers approve or reject." : "Nothing to reject here.");
    return;
  }
  state.rejecting = card.ref;
  const holder = state.shell.querySelector(".reject");
  holder.hidden = false;
  holder.querySelector(".what").textContent = `Reject ${card.ref} v${card.version}:`;
  holder.querySelector(".problem").textContent = "";
  const input = holder.querySelector("input");
  input.value = "";
  input.focus();
}

function closeReject(state) {
  state.rejecting = null;
  state.shell.querySelector(".reject").hidden = true;
  state.grid.focus({ preventScroll: true });
}

function rejectWith(state, text) {
  const reason = text.trim();
  const holder = state.shell.querySelector(".reject");
  if (!reason) {
    holder.querySelector(".problem").textContent = "A rejection needs a reason: what is wrong with the image?";
    return;
  }
  const ref = state.rejecting;
  closeReject(state);
  if (ref && decide(state, [ref], "reject", reason)) {
    say(state, "");
    draw(state);
  }
}

function clicked(state, event) {
  const target = event.composedPath()[0];
  const filter = target.closest && target.closest("[data-filter]");
  if (filter) {
    state.filter = filter.dataset.filter;
    state.confirming = 0;
    draw(state);
    placeCursor(state, true);
    return;
  }
  const act = target.closest && target.closest("[data-act]");
  if (act) {
    const shown = shownCards(state);
    if (act.dataset.act === "select") {
      for (const card of shown) if (statusOf(state, card) === "pending") state.selected.add(card.ref);
    } else if (act.dataset.act === "clear") {
      state.selected.clear();
    } else if (act.dataset.act === "approve-selected") {
      state.confirming = state.selected.size;
    } else if (act.dataset.act === "confirm") {
      const refs = shown.map((card) => card.ref).filter((ref) => state.selected.has(ref));
      decide(state, refs, "approve");
      say(state, `${refs.length} approvals sent.`, "done");
      state.selected.clear();
      state.confirming = 0;
    } else if (act.dataset.act === "cancel") {
      state.confirming = 0;
    }
    draw(state);
    return;
  }
  const card = target.closest && target.closest("[data-ref]");
  if (!card) return;
  if (target.classList.contains("pick")) {
    if (target.checked) state.selected.add(card.dataset.ref);
    else state.selected.delete(card.dataset.ref);
    drawBar(state, shownCards(state));
  }
  state.cursor = card.dataset.ref;
  drawBar(state, shownCards(state));
  placeCursor(state, false);
  if (event.detail === 2) open(state);
}

function open(state) {
  if (state.cursor) state.component.setTriggerValue("open", state.cursor);
}

function typing(event) {
  const origin = event.composedPath()[0];
  if (!origin || !origin.tagName) return false;
  return (
    ["INPUT", "TEXTAREA", "SELECT"].includes(origin.tagName) || origin.isContentEditable === true
  );
}

function pressed(state, event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event) || document.querySelector('[role="dialog"]')) return;
  if (!state.shell.isConnected) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const actions = {
    ArrowRight: () => move(state, 1),
    ArrowLeft: () => move(state, -1),
    ArrowDown: () => move(state, columns(state), false),
    ArrowUp: () => move(state, -columns(state), false),
    Home: () => move(state, -1e9, false),
    End: () => move(state, 1e9, false),
    a: () => approveCursor(state),
    r: () => openReject(state),
    x: () => openReject(state),
    v: () => open(state),
    Enter: () => open(state),
    " ": () => {
      const card = state.byRef.get(state.cursor);
      if (!card || statusOf(state, card) !== "pending") return;
      if (state.selected.has(card.ref)) state.selected.delete(card.ref);
      else state.selected.add(card.ref);
      draw(state);
    },
  };
  const action = actions[key];
  if (!action) return;
  event.preventDefault();
  event.stopPropagation();
  if (state.message && key !== "a") say(state, "");
  action();
}

function receive(state, data) {
  const firstTime = state.job !== data.job;
  state.job = data.job;
  state.mayReview = Boolean(data.may_review);
  state.cards = data.cards || [];
  state.byRef = new Map(state.cards.map((card) => [card.ref, card]));
  if (firstTime) {
    state.outbox = stored(`review-outbox-${data.job}`, []);
    state.elements.clear();
    state.selected.clear();
    const remembered = stored(`review-cursor-${data.job}`, null);
    state.cursor = state.byRef.has(remembered) ? remembered : data.cursor && data.cursor.ref;
    state.turn = data.cursor ? data.cursor.turn : null;
    if (state.outbox.length) send(state);
  } else if (data.cursor && data.cursor.turn !== state.turn) {
    state.turn = data.cursor.turn;
    if (state.byRef.has(data.cursor.ref)) state.cursor = data.cursor.ref;
  }
  const settled = new Map((data.settled || []).map((outcome) => [outcome.id, outcome]));
  const refused = state.outbox.filter((item) => settled.has(item.id) && !settled.get(item.id).recorded);
  const before = state.outbox.length;
  state.outbox = state.outbox.filter((item) => !settled.has(item.id));
  if (state.outbox.length !== before) store(`review-outbox-${data.job}`, state.outbox);
  if (refused.length) {
    say(state, refused.map((item) => `${item.ref}: ${settled.get(item.id).problem}`).join(" · "));
  }
  for (const ref of state.selected) if (!state.byRef.has(ref)) state.selected.delete(ref);
  if (state.cursor === null || !state.byRef.has(state.cursor)) {
    const pending = state.cards.find((card) => statusOf(state, card) === "pending");
    state.cursor = (pending || state.cards[0] || { ref: null }).ref;
  }
  draw(state);
  if (firstTime) {
    fitToWindow(state);
    placeCursor(state, true);
  }
}

function fitToWindow(state) {
  // The grid scrolls inside the window, below what the page shows above it.
  const top = state.grid.getBoundingClientRect().top;
  if (top > 0 && top < window.innerHeight - 320) {
    state.grid.style.maxHeight = `calc(100vh - ${Math.ceil(top) + 10}px)`;
  }
}

export default function (component) {
  const { data, parentElement } = component;
  let state = boards.get(parentElement);
  if (!state) {
    state = create(parentElement, component);
    boards.set(parentElement, state);
  }
  state.component = component;
  if (!state.listener) {
    state.listener = (event) => pressed(state, event);
    document.addEventListener("keydown", state.listener, true);
  }
  receive(state, data || {});
  return () => {
    document.removeEventListener("keydown", state.listener, true);
    state.listener = null;
  };
}
