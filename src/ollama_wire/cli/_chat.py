"""`ollama-wire chat MODEL`: a REPL on a terminal, one turn per line when scripted."""

from __future__ import annotations

import json
import os
from typing import Any

from ollama_wire.cli._context import CommandError, Context
from ollama_wire.cli._options import model_kwargs, read_images
from ollama_wire.cli._render import field, is_tty, to_jsonable
from ollama_wire.cli._textout import TextPrinter, closing, print_stats

PROMPT = ">>> "
CONTINUATION = "... "
FENCE = '"""'
HISTORY_LENGTH = 1000
HELP = """\
Commands:
  /system TEXT   set the system prompt (no TEXT: show it)
  /clear         forget the conversation (the system prompt stays)
  /save FILE     save the messages as JSON
  /load FILE     load messages saved with /save
  /bye           exit (also Ctrl-D)
  /?, /help      this help
Multi-line input: start and end it with \"\"\".
Ctrl-C stops a reply; at the prompt it clears the line."""


class Conversation:
    """The messages of one chat and how to send a turn."""

    def __init__(self, ctx: Context, system: str | None) -> None:
        self.ctx = ctx
        self.messages: list[dict[str, Any]] = []
        self.kwargs = model_kwargs(ctx.args)
        if system:
            self.set_system(system)

    def set_system(self, text: str) -> None:
        """Set or replace the system message."""
        self.messages = [m for m in self.messages if m.get("role") != "system"]
        self.messages.insert(0, {"role": "system", "content": text})

    @property
    def system(self) -> str | None:
        """Return the system prompt, if any."""
        for message in self.messages:
            if message.get("role") == "system":
                return str(message.get("content", ""))
        return None

    def clear(self) -> None:
        """Forget every turn, keeping the system prompt."""
        self.messages = [m for m in self.messages if m.get("role") == "system"]

    def send(self, text: str, images: list[bytes] | None = None) -> Any:
        """Send a user turn, print the reply as it streams, and keep both in the history."""
        ctx = self.ctx
        user: dict[str, Any] = {"role": "user", "content": text}
        if images:
            user["images"] = images
        self.messages.append(user)
        printer = TextPrinter(ctx, quiet=ctx.json)
        final: Any = None
        tool_calls: list[Any] = []
        try:
            client = ctx.client()
            if ctx.args.stream:
                stream = client.chat(ctx.args.model, self.messages, stream=True, **self.kwargs)
                with closing(stream):
                    for chunk in stream:
                        message = field(chunk, "message")
                        printer.feed(field(message, "content", ""), field(message, "thinking", ""))
                        tool_calls.extend(field(message, "tool_calls", []) or [])
                        final = chunk
            else:
                final = client.chat(ctx.args.model, self.messages, stream=False, **self.kwargs)
                message = field(final, "message")
                printer.feed(field(message, "content", ""), field(message, "thinking", ""))
                tool_calls.extend(field(message, "tool_calls", []) or [])
        except BaseException:
            printer.end()
            reply = "".join(printer.text)
            if reply:  # keep what is on the screen, so the history matches it
                self.messages.append({"role": "assistant", "content": reply})
            else:
                self.messages.pop()
            raise
        printer.end()
        reply_message: dict[str, Any] = {"role": "assistant", "content": "".join(printer.text)}
        if tool_calls:
            reply_message["tool_calls"] = to_jsonable(tool_calls)
        self.messages.append(reply_message)
        if ctx.json:
            result = to_jsonable(final) if final is not None else {}
            result["message"] = dict(reply_message)
            if printer.thinking:
                result["message"]["thinking"] = "".join(printer.thinking)
            ctx.emit_json(result)
        if ctx.args.stats and final is not None:
            print_stats(ctx, final)
        return final

    def save(self, path: str) -> None:
        """Write the messages to a JSON file."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(to_jsonable(self.messages), handle, indent=2, ensure_ascii=False)
            handle.write("\n")

    def load(self, path: str) -> None:
        """Replace the messages with those in a JSON file (a list, or {"messages": [...]})."""
        with open(path, encoding="utf-8") as handle:
            try:
                data = json.load(handle)
            except ValueError as exc:
                raise CommandError(f"{path} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and "messages" in data:
            data = data["messages"]
        if not isinstance(data, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content", ""), str) for m in data):
            raise CommandError(f"{path} must hold a JSON list of messages, each with a string "
                               "'role' and 'content'")
        self.messages = [dict(m) for m in data]


def run_chat(ctx: Context) -> int:
    """Chat: --message turns, stdin lines, or the REPL on a terminal."""
    args = ctx.args
    conversation = Conversation(ctx, args.system)
    if args.load:
        conversation.load(args.load)
        if args.system:
            conversation.set_system(args.system)
    images = read_images(args.image)
    if args.message:
        for index, text in enumerate(args.message):
            conversation.send(text, images if index == 0 else None)
        return 0
    if not is_tty(ctx.stdin):
        first = True
        for line in ctx.stdin:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            conversation.send(text, images if first else None)
            first = False
        return 0
    return Repl(ctx, conversation, images).loop()


class Repl:
    """The interactive loop: readline editing and history, slash commands, multi-line input."""

    def __init__(self, ctx: Context, conversation: Conversation, images: list[bytes]) -> None:
        self.ctx = ctx
        self.conversation = conversation
        self.images = images
        self.history_file = ctx.args.history_file or _default_history_file()
        self.readline: Any = None

    def loop(self) -> int:
        """Read turns until /bye or end of input."""
        self._start_readline()
        out = self.ctx.stdout
        out.write(self.ctx.style(f"Chatting with {self.ctx.args.model}.", "bold")
                  + " Type /? for help, /bye or Ctrl-D to exit.\n")
        out.flush()
        try:
            while True:
                try:
                    text = self._read()
                except KeyboardInterrupt:
                    out.write("\nUse Ctrl-D or /bye to exit.\n")
                    out.flush()
                    continue
                except EOFError:
                    out.write("\n")
                    return 0
                if text is None:
                    continue
                if text.startswith("/"):
                    if self._command(text) == "bye":
                        return 0
                    continue
                try:
                    self.ctx.line_ended_on_interrupt = False
                    self.conversation.send(text, self.images or None)
                    self.images = []
                except KeyboardInterrupt:
                    # Before any reply text, the terminal's ^C is still on the line.
                    start = "" if self.ctx.line_ended_on_interrupt or not self.ctx.out_tty else "\n"
                    out.write(start + self.ctx.style("(stopped)", "dim") + "\n")
                    out.flush()
                except Exception as exc:  # one failed turn must not end the session
                    from ollama_wire.cli._run import describe

                    self.ctx.stderr.write(
                        f"{self.ctx.err_style('error:', 'bold', 'red')} {describe(exc)}\n")
                    self.ctx.stderr.flush()
        finally:
            self._save_history()

    def _read(self) -> str | None:
        line = input(PROMPT)
        if not line.lstrip().startswith(FENCE):
            return line.strip() or None
        # Multi-line: everything up to the line that ends with the closing fence.
        rest = line.lstrip()[len(FENCE):]
        if rest.rstrip().endswith(FENCE) and rest.strip():
            return rest.rstrip()[: -len(FENCE)].strip() or None
        parts = [rest] if rest else []
        while True:
            line = input(CONTINUATION)
            if line.rstrip().endswith(FENCE):
                parts.append(line.rstrip()[: -len(FENCE)])
                break
            parts.append(line)
        return "\n".join(parts).strip("\n") or None

    def _command(self, text: str) -> str | None:
        name, _, rest = text.partition(" ")
        rest = rest.strip()
        out = self.ctx.stdout
        conversation = self.conversation
        try:
            if name in ("/bye", "/exit", "/quit"):
                return "bye"
            if name in ("/?", "/help"):
                out.write(HELP + "\n")
            elif name == "/clear":
                conversation.clear()
                out.write("Cleared the conversation.\n")
            elif name == "/system":
                if rest:
                    conversation.set_system(rest)
                    out.write("Set the system prompt.\n")
                else:
                    out.write((conversation.system or "(no system prompt)") + "\n")
            elif name in ("/save", "/load"):
                if not rest:
                    out.write(f"Usage: {name} FILE\n")
                elif name == "/save":
                    conversation.save(os.path.expanduser(rest))
                    out.write(f"Saved {len(conversation.messages)} messages to {rest}.\n")
                else:
                    conversation.load(os.path.expanduser(rest))
                    out.write(f"Loaded {len(conversation.messages)} messages from {rest}.\n")
            else:
                out.write(f"Unknown command {name!r}. Type /? for help.\n")
        except (OSError, CommandError) as exc:
            from ollama_wire.cli._run import describe

            out.write(f"{describe(exc)}\n")
        out.flush()
        return None

    def _start_readline(self) -> None:
        try:
            import readline
        except ImportError:  # Windows without pyreadline: plain input() still works
            return
        self.readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if self.history_file and os.path.exists(self.history_file):
            try:
                readline.read_history_file(self.history_file)
            except OSError:
                pass

    def _save_history(self) -> None:
        if self.readline is None or not self.history_file:
            return
        try:
            os.makedirs(os.path.dirname(self.history_file) or ".", exist_ok=True)
            self.readline.write_history_file(self.history_file)
        except OSError:
            pass


def _default_history_file() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".local", "state")
    return os.path.join(state, "ollama-wire", "chat_history")
