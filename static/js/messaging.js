// Live messaging over a WebSocket (messaging/consumers.py); the plain form is the fallback.
//
// Conversation page ([data-conversation][data-ws-path]): each message is sent with a
// client-generated id (a retried send is stored once), the id of the last message shown is
// remembered, and every (re)connect asks for everything after it (catch_up, answered from the
// database); messages are deduplicated by id. While the socket is down the page says
// "Reconnecting…", retries with backoff, and the form posts normally.
// Every page of a signed-in member keeps the header's unread badge ([data-unread-badge]), the
// notifications badge ([data-notification-badge], "notifications" frames pushed by
// notifications/badge.py) and the inbox ([data-inbox]) up to date over the member's own socket
// (ws/messages/).
(() => {
  const root = document.querySelector("[data-conversation][data-ws-path]");
  const badge = document.querySelector("[data-unread-badge]");
  const notificationBadge = document.querySelector("[data-notification-badge]");
  const inbox = document.querySelector("[data-inbox]");
  if (!root && !badge && !inbox) return;
  if (!("WebSocket" in window)) return;

  const path = root ? root.dataset.wsPath : "/ws/messages/";
  const me = root ? root.dataset.viewer : null;
  const list = root ? root.querySelector("[data-message-list]") : null;
  const form = root ? root.querySelector("form[data-message-form]") : null;
  const status = root ? root.querySelector("[data-connection-status]") : null;
  const shown = new Set();
  const pending = new Map(); // client_id -> {body, element}
  let lastId = root ? root.dataset.lastMessageId || null : null;
  let socket = null;
  let attempt = 0;
  let retryTimer = null;

  if (list) {
    for (const item of list.querySelectorAll("[data-message-id]")) {
      shown.add(item.dataset.messageId);
      lastId = item.dataset.messageId;
    }
  }

  const uuid4 = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };

  const setStatus = (text) => {
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
  };

  const isOpen = () => socket !== null && socket.readyState === WebSocket.OPEN;

  const send = (frame) => {
    if (!isOpen()) return;
    socket.send(JSON.stringify(frame));
    // Read-your-writes (marketplace/db_router.py): a write over the socket pins this browser's
    // pages to the primary database for a while, as a POST's response does.
    if (frame.type !== "catch_up") {
      const seconds = Number(document.body.dataset.replicaPinSeconds || 0);
      if (seconds > 0) {
        document.cookie = `replica_pin=${Math.floor(Date.now() / 1000) + seconds}; max-age=${seconds}; path=/; samesite=lax${location.protocol === "https:" ? "; secure" : ""}`;
      }
    }
  };

  const element = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const formatTime = (iso) => {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  };

  // The same markup as templates/messaging/conversation.html.
  const renderMessage = (message) => {
    const mine = String(message.sender_id) === String(me);
    const system = message.kind === "system" ? " message-system" : "";
    const item = element("li", `message-item${mine ? " message-mine" : ""}${system}`);
    item.id = `message-${message.id}`;
    item.dataset.messageId = message.id;
    item.dataset.clientId = message.client_id || "";
    item.dataset.senderId = message.sender_id;
    const meta = element("p", "message-meta muted");
    meta.append(element("span", "message-sender", mine ? "You" : message.sender_name || ""), " · ");
    const when = element("time", "", formatTime(message.created_at));
    when.dateTime = message.created_at || "";
    meta.append(when);
    const body = element("p", "message-body");
    const lines = String(message.body).split("\n");
    lines.forEach((line, index) => {
      if (index) body.append(document.createElement("br"));
      body.append(line);
    });
    item.append(meta, body);
    const pictures = (message.attachments || []).filter((a) => a && (a.thumb_url || a.url));
    if (pictures.length) {
      const holder = element("p", "message-attachments");
      pictures.forEach((picture, index) => {
        const link = element("a");
        link.href = picture.url || picture.thumb_url;
        link.target = "_blank";
        link.rel = "noopener";
        const image = element("img", "message-thumb");
        image.src = picture.thumb_url || picture.url;
        image.alt = `Picture ${index + 1}`;
        link.append(image);
        holder.append(link);
      });
      item.append(holder);
    }
    return item;
  };

  const show = (message) => {
    if (!list || shown.has(String(message.id))) return false;
    shown.add(String(message.id));
    const empty = list.querySelector("[data-message-empty]");
    if (empty) empty.remove();
    list.append(renderMessage(message));
    lastId = String(message.id);
    list.lastElementChild.scrollIntoView({ block: "nearest" });
    return true;
  };

  const markSeen = () => {
    if (!list) return;
    for (const seen of list.querySelectorAll("[data-seen]")) seen.remove();
    const mine = list.querySelectorAll("[data-message-id].message-mine");
    const last = mine[mine.length - 1];
    if (!last) return;
    const seen = element("p", "message-seen muted", "Seen");
    seen.dataset.seen = "";
    last.append(seen);
  };

  const readIfVisible = () => {
    if (root && document.visibilityState === "visible") send({ type: "read" });
  };

  // The header's badges (messages, notifications): the count, or nothing at zero.
  // ``key``: the counter's data attribute (data-unread-count, data-notification-count).
  const setBadge = (target, count, key = "unreadCount") => {
    if (!target) return;
    const attribute = `data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    let counter = target.querySelector(`[${attribute}]`);
    if (count > 0) {
      if (!counter) {
        counter = element("span", "badge badge-unread");
        counter.dataset[key] = "";
        const hidden = element("span", "visually-hidden", " unread");
        target.append(" ", counter, hidden);
      }
      counter.textContent = String(count);
    } else if (counter) {
      const hidden = counter.nextElementSibling;
      if (hidden && hidden.classList.contains("visually-hidden")) hidden.remove();
      counter.remove();
    }
  };

  const setUnread = (count) => setBadge(badge, count);

  let inboxRefresh = null;
  const refreshInbox = () => {
    if (!inbox) return;
    clearTimeout(inboxRefresh);
    inboxRefresh = setTimeout(async () => {
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        if (!response.ok) return;
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.querySelector("[data-inbox]");
        if (fresh) inbox.replaceChildren(...fresh.childNodes);
      } catch (error) {
        // The next event refreshes it again.
      }
    }, 150);
  };

  const showError = (text) => {
    if (!form) return;
    let errors = form.querySelector("[data-message-error]");
    if (!errors) {
      errors = element("p", "form-errors");
      errors.setAttribute("role", "alert");
      errors.dataset.messageError = "";
      form.querySelector("textarea").before(errors);
    }
    errors.textContent = text;
    errors.hidden = !text;
  };

  const handle = (frame) => {
    switch (frame.type) {
      case "catch_up": {
        let fromOther = false;
        for (const message of frame.messages) {
          if (show(message) && String(message.sender_id) !== String(me)) fromOther = true;
        }
        if (frame.more) send({ type: "catch_up", after: lastId });
        else if (fromOther) readIfVisible();
        break;
      }
      case "message":
        if (show(frame.message) && String(frame.message.sender_id) !== String(me)) readIfVisible();
        if (inbox) refreshInbox();
        break;
      case "ack": {
        const entry = pending.get(frame.client_id);
        pending.delete(frame.client_id);
        if (entry) entry.element.remove();
        show(frame.message);
        break;
      }
      case "seen":
        markSeen();
        break;
      case "unread":
        setUnread(frame.unread);
        break;
      case "inbox":
        setUnread(frame.unread);
        refreshInbox();
        break;
      case "notifications":
        setBadge(notificationBadge, frame.count, "notificationCount");
        break;
      case "error": {
        const entry = frame.client_id ? pending.get(frame.client_id) : null;
        if (entry) {
          pending.delete(frame.client_id);
          entry.element.remove();
          const field = form && form.querySelector("textarea");
          if (field && !field.value) field.value = entry.body;
        }
        showError(frame.message);
        break;
      }
      default:
        break;
    }
  };

  const connect = () => {
    clearTimeout(retryTimer);
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}${path}`);
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      setStatus("");
      if (root) {
        send({ type: "catch_up", after: lastId });
        // Sends in flight when the socket dropped: the same client id is stored once.
        for (const [clientId, entry] of pending) send({ type: "send", client_id: clientId, body: entry.body });
      }
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      handle(frame);
    });
    ws.addEventListener("close", (event) => {
      if (socket === ws) socket = null;
      if (event.code >= 4000 && event.code < 5000) {
        setStatus(""); // refused (signed out, no access): the plain pages still work
        return;
      }
      if (root) setStatus("Reconnecting… Messages you send now are posted with the form.");
      const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      retryTimer = setTimeout(connect, delay);
    });
  };

  if (form && list) {
    form.addEventListener("submit", (event) => {
      if (!isOpen()) return; // offline: the plain form post
      const attachments = form.querySelector("[data-message-attachments]");
      if (attachments && attachments.files && attachments.files.length) return; // pictures: by form
      const field = form.querySelector("textarea");
      const body = field.value;
      if (!body.trim()) return; // the server says what is wrong
      event.preventDefault();
      const clientId = uuid4();
      const item = element("li", "message-item message-mine message-pending");
      item.append(element("p", "message-meta muted", "Sending…"));
      item.append(element("p", "message-body", body));
      const empty = list.querySelector("[data-message-empty]");
      if (empty) empty.remove();
      list.append(item);
      pending.set(clientId, { body, element: item });
      field.value = "";
      showError("");
      send({ type: "send", client_id: clientId, body });
    });
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    if (!socket) connect();
    readIfVisible();
  });
  window.addEventListener("online", () => {
    if (!socket) connect();
  });
  connect();
})();
