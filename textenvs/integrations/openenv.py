"""Any textenvs env served as an OpenEnv environment (``openenv`` 0.10 on PyPI), and a typed OpenEnv client for it.

Server: ``textenvs serve-openenv --env textenvs/Translation-v0 --port 8000`` (or :func:`create_app` /
:func:`serve`). It is OpenEnv's own server (``openenv.core.env_server.create_fastapi_app``): ``/ws`` holds one
session per WebSocket connection (reset / step / state, what OpenEnv's ``EnvClient`` speaks), plus OpenEnv's
stateless HTTP ``/reset``, ``/step``, ``/state``, ``/schema``, ``/health``, ``/metadata``; and ``/openenv.yaml``,
the manifest (:func:`openenv_manifest`).

- **Actions** (:class:`TextEnvsAction`): ``{"text": "..."}``, a whole response (multi-turn: one agent turn), fed
  through :class:`~textenvs.TextActionWrapper`; or ``{"token_ids": [...]}``, token-level, each id one env step (as
  OpenEnv's chat env takes token ids). Exactly one of the two.
- **Observations** (:class:`TextEnvsObservation`): the prompt (multi-turn: the conversation) as text and chat
  messages, prompt and generated token ids, ``done``, ``reward`` (the sum of the env's rewards over the action),
  ``metadata`` (the env's info: prediction, metrics, references, end reason, user reply, ...).
- **State** (:class:`TextEnvsState`): episode id, step count (env steps, i.e. tokens), env id, example, done.
- **Sessions** are isolated (one env per session; only the read-only tokenizer, dataset and scorer are shared, and
  one lock serializes env calls across sessions because tokenizers and scorers are not thread-safe). **Bounds**:
  ``max_sessions`` (a session beyond it is refused with OpenEnv's ``CAPACITY_REACHED``), ``idle_timeout_s``
  (OpenEnv's reaper closes idle sessions; a later call on one says it expired), ``max_request_bytes`` (HTTP bodies
  and WebSocket frames; longer ones get 413 or a closed socket), and the action limits :data:`MAX_TEXT_CHARS`,
  :data:`MAX_ACTION_TOKENS`.
- **Errors**: a bad action (both or neither field, a token id outside the vocabulary, a step after the episode
  ended or before reset) fails that request with a message saying what to do; the session stays usable.

Client: :class:`TextEnvsClient` (an OpenEnv ``EnvClient``): ``with TextEnvsClient(base_url=url).sync() as env:
env.reset(); env.step(TextEnvsAction(text="..."))``. OpenEnv's ``GenericEnvClient`` works too, with dicts.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import uuid
from typing import Any, Mapping

import numpy as np

try:
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient
    from openenv.core.env_server import Action, ConcurrencyConfig, Environment, Observation, State
    from openenv.core.env_server.http_server import create_fastapi_app
    from openenv.core.env_server.types import EnvironmentMetadata
except ImportError as error:  # pragma: no cover - depends on the install
    # A ModuleNotFoundError naming the missing package, as a plain missing import would: tools that tell a missing
    # optional extra from a broken module (and users reading the message) see which package to install.
    raise ModuleNotFoundError("textenvs.integrations.openenv needs OpenEnv: pip install 'textenvs[openenv]' "
                              f"(PyPI 'openenv' 0.10). Import failed with: {error}",
                              name=getattr(error, "name", None) or "openenv") from error
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

MAX_TEXT_CHARS = 65_536
"""The longest ``text`` action accepted (characters); a response longer than the env's budget is cut anyway."""
MAX_ACTION_TOKENS = 4_096
"""The most ``token_ids`` one action may carry."""
DEFAULT_MAX_SESSIONS = 64
DEFAULT_IDLE_TIMEOUT_S = 300.0
DEFAULT_MAX_REQUEST_BYTES = 1 << 20


class TextEnvsAction(Action):
    """One action: a whole response (``text``) or token ids (``token_ids``), exactly one of them."""

    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS,
                             description="A whole response (multi-turn: one agent turn); the end token is added.")
    token_ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_ACTION_TOKENS,
                                        description="Token ids, each one env step (no end token is added).")

    @model_validator(mode="after")
    def _one_kind(self) -> "TextEnvsAction":
        if (self.text is None) == (self.token_ids is None):
            # A PydanticCustomError, not a ValueError: OpenEnv sends e.errors() as JSON, and a ValueError's entry
            # carries the exception object, which would not serialize (the session would drop instead).
            raise PydanticCustomError("one_action_kind", "An action is either {'text': '<response>'} or "
                                      "{'token_ids': [<id>, ...]}, exactly one of the two.")
        return self


class TextEnvsObservation(Observation):
    """What the agent sees after reset and after each action (``done``, ``reward``, ``metadata`` from OpenEnv)."""

    prompt: str = Field(default="", description="The prompt (multi-turn: the conversation so far) as text.")
    messages: list[dict[str, str]] = Field(default_factory=list,
                                           description="The prompt or conversation as chat messages.")
    prompt_ids: list[int] = Field(default_factory=list, description="The prompt's token ids (no padding).")
    generated_ids: list[int] = Field(default_factory=list,
                                     description="Every token after the prompt (multi-turn: user turns too).")
    generated_text: str = Field(default="", description="generated_ids decoded, special tokens skipped.")


class TextEnvsState(State):
    """The session's episode (``episode_id`` and ``step_count``, in env steps, from OpenEnv)."""

    env_id: str = ""
    example_id: str | None = None
    example_index: int | None = None
    done: bool = False


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class SharedEnvParts:
    """What every session of one server shares: the env id and kwargs, and the loaded tokenizer, dataset and
    scorer (read-only), so a session costs one small env; and the lock that serializes env calls."""

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
        import gymnasium as gym

        import textenvs

        textenvs.check_env_arguments(env_id, env_kwargs)
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        template = gym.make(env_id, **self.env_kwargs)
        task = template.unwrapped.task
        self.tokenizer, self.dataset, self.scorer = task.tokenizer, task.dataset, task.scorer
        self.vocab_size = int(task.vocab_size)
        # The dataset object replaces its description (path, fields, options), the scorer object its name.
        shared = {key: value for key, value in self.env_kwargs.items()
                  if key not in ("dataset_fields", "dataset_languages", "dataset_options", "scorer_kwargs")}
        self.session_kwargs = {**shared, "tokenizer": self.tokenizer, "dataset": self.dataset, "scorer": self.scorer}
        self.lock = threading.Lock()
        self.multi_turn = hasattr(template.unwrapped, "end_of_turn_token_id")
        self.description = (type(template.unwrapped).__doc__ or env_id).strip().splitlines()[0]
        # Not template.close(): that would close the scorer every session shares.

    def close(self) -> None:
        """Release the shared scorer (worker processes, if any)."""
        self.scorer.close()


class TextEnvsEnvironment(Environment):
    """One session: a textenvs env behind OpenEnv's ``Environment`` interface (see the module docstring)."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, shared: SharedEnvParts) -> None:
        import gymnasium as gym

        super().__init__()
        self._shared = shared
        with shared.lock:
            self._env = gym.make(shared.env_id, **shared.session_kwargs)
        base = self._env.unwrapped
        task = base.task
        # A text action is fed as TextActionWrapper feeds it: the response's tokens, then the end token.
        self._end_token_id = base.end_of_turn_token_id if shared.multi_turn else task.eos_token_id
        self._encode = base.encode_agent_turn if shared.multi_turn else (
            lambda text: task.tokenizer.encode(text, add_special_tokens=False))
        self._state = TextEnvsState(env_id=shared.env_id)
        self._observation: dict[str, np.ndarray] | None = None
        self._closed = False

    def reset(self, seed: int | None = None, episode_id: str | None = None, example_index: int | None = None,
              **kwargs: Any) -> TextEnvsObservation:
        """Start an episode: example ``example_index`` of the split, else one drawn with ``seed``."""
        self._check_open()
        if kwargs:
            raise ValueError(f"reset() takes seed, episode_id and example_index; got also {sorted(kwargs)}.")
        size = len(self._shared.dataset)
        if example_index is not None and (isinstance(example_index, bool) or not isinstance(example_index, int)
                                          or not 0 <= example_index < size):
            raise ValueError(f"example_index must be an int in [0, {size}), got {example_index!r}.")
        options = None if example_index is None else {"example_index": example_index}
        with self._shared.lock:
            self._observation, info = self._env.reset(seed=seed, options=options)
            observation = self._make_observation(None, False, info)
        self._state = TextEnvsState(env_id=self._shared.env_id, episode_id=episode_id or str(uuid.uuid4()),
                                    step_count=0, done=False, example_id=_json_safe(info.get("example_id")),
                                    example_index=_json_safe(info.get("example_index")))
        return observation

    def step(self, action: TextEnvsAction, timeout_s: float | None = None, **kwargs: Any) -> TextEnvsObservation:
        """Apply one action; the reward is the sum of the env's rewards over its tokens."""
        self._check_open()
        if self._observation is None:
            raise RuntimeError("step() before reset(): send a reset first.")
        if self._state.done:
            raise RuntimeError("The episode is over (done=True); send a reset to start the next one.")
        if action.token_ids is not None:
            bad = [t for t in action.token_ids if not 0 <= t < self._shared.vocab_size]
            if bad:
                raise ValueError(f"token_ids must lie in [0, {self._shared.vocab_size}) (the tokenizer's "
                                 f"vocabulary); got {bad[:5]}.")
        with self._shared.lock:
            tokens = [*self._encode(action.text), self._end_token_id] if action.text is not None \
                else list(action.token_ids)
            reward, used = 0.0, 0
            terminated = truncated = False
            info: dict[str, Any] = {}
            for token in tokens:
                self._observation, token_reward, terminated, truncated, info = self._env.step(np.int64(token))
                reward += float(token_reward)
                used += 1
                if terminated or truncated or (action.text is not None and self._shared.multi_turn
                                               and token == self._end_token_id):
                    break
            done = bool(terminated or truncated)
            info = {**info, "action_ids": tokens[:used], "action_truncated": used < len(tokens)}
            observation = self._make_observation(reward, done, info)
        self._state.step_count += used
        self._state.done = done
        return observation

    @property
    def state(self) -> TextEnvsState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        from textenvs import __version__

        return EnvironmentMetadata(name=self._shared.env_id, description=self._shared.description,
                                   version=__version__, author="textenvs")

    def close(self) -> None:
        """End the session (OpenEnv calls it on disconnect and when the idle reaper expires the session)."""
        self._closed = True
        # The token env's own close() would close the shared scorer; the env holds nothing else to release.

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("This session was closed (idle timeout or disconnect); open a new connection.")

    def _make_observation(self, reward: float | None, done: bool, info: Mapping[str, Any]) -> TextEnvsObservation:
        observation = self._observation
        tokenizer = self._shared.tokenizer
        prompt_ids = observation["prompt_ids"][observation["prompt_mask"] == 1].tolist()
        generated_ids = observation["generated_ids"][observation["generated_mask"] == 1].tolist()
        base = self._env.unwrapped
        task = base.task
        if self._shared.multi_turn:
            messages = base.messages()
        elif task.chat is not None:
            messages = task.chat.messages(task.chat.user_content(prompt_ids))
        else:
            messages = [{"role": "user", "content": tokenizer.decode(prompt_ids, skip_special_tokens=True)}]
        prompt = "\n".join(f"{m['role']}: {m['content']}" for m in messages) if self._shared.multi_turn \
            else messages[-1]["content"]
        return TextEnvsObservation(
            prompt=prompt, messages=[dict(m) for m in messages], prompt_ids=prompt_ids, generated_ids=generated_ids,
            generated_text=tokenizer.decode(generated_ids, skip_special_tokens=True), done=done, reward=reward,
            metadata=_json_safe(dict(info)))


class TextEnvsClient(EnvClient[TextEnvsAction, TextEnvsObservation, TextEnvsState]):
    """OpenEnv's WebSocket client with this server's typed actions, observations and state.

    ``with TextEnvsClient(base_url="http://127.0.0.1:8000").sync() as env: result = env.reset(example_index=0);
    result = env.step(TextEnvsAction(text="..."))`` (``result.observation``, ``.reward``, ``.done``). Async use:
    ``async with TextEnvsClient(base_url=url) as env: await env.reset()``. Every client is its own session.
    """

    def _step_payload(self, action: TextEnvsAction | Mapping[str, Any]) -> dict[str, Any]:
        # A plain dict goes as it is, so the server's validation (and its error) is the one that answers.
        return dict(action) if isinstance(action, Mapping) else action.model_dump(exclude_none=True)

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[TextEnvsObservation]:
        fields = {**payload.get("observation", {}), "done": payload.get("done", False),
                  "reward": payload.get("reward")}
        fields["metadata"] = fields.get("metadata") or payload.get("metadata") or {}
        observation = TextEnvsObservation(**fields)
        return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False),
                          metadata=payload.get("metadata"))

    def _parse_state(self, payload: dict[str, Any]) -> TextEnvsState:
        return TextEnvsState(**payload)


def openenv_manifest(env_id: str, port: int = 8000) -> dict[str, Any]:
    """The ``openenv.yaml`` manifest of ``env_id`` served by textenvs (OpenEnv's ``spec_version: 1`` fields).

    ``app`` names :data:`app`, which builds the server for the env named by ``TEXTENVS_OPENENV_ENV`` (so
    ``TEXTENVS_OPENENV_ENV=<id> uvicorn textenvs.integrations.openenv:app`` serves it as well).
    """
    from textenvs import __version__, env_reward_ceiling

    ceiling = env_reward_ceiling(env_id)
    name = env_id.split("/")[-1].lower().replace("-", "_")
    return {
        "spec_version": 1, "name": f"textenvs_{name}", "version": __version__, "type": "space", "runtime": "fastapi",
        "app": "textenvs.integrations.openenv:app", "port": int(port),
        "description": f"textenvs {env_id} (text- or token-level actions)",
        "validation": {"reward": {"range": [0.0, 1.0 if ceiling is None else float(ceiling)]}},
    }


def _manifest_yaml(manifest: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(manifest), sort_keys=False)


def create_app(env_id: str, env_kwargs: Mapping[str, Any] | None = None, *,
               max_sessions: int = DEFAULT_MAX_SESSIONS, idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
               max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, port: int = 8000) -> Any:
    """OpenEnv's FastAPI app serving ``env_id`` (made with ``env_kwargs``); see the module docstring.

    :param max_sessions: concurrent WebSocket sessions (OpenEnv's ``max_concurrent_envs``).
    :param idle_timeout_s: seconds without a message after which OpenEnv's reaper closes a session (None: never).
        OpenEnv checks every ``max(idle_timeout_s / 4, 5)`` seconds.
    :param max_request_bytes: the largest HTTP request body (longer: 413). WebSocket frames are bounded by the
        server (:func:`serve` passes it to uvicorn as ``ws_max_size``).
    :param port: the port written in the ``/openenv.yaml`` manifest.
    :raises ValueError: a bound below 1, or a bad env id or argument (before anything is served).
    """
    from fastapi import Request
    from fastapi.responses import JSONResponse, PlainTextResponse

    if max_sessions < 1:
        raise ValueError(f"max_sessions must be >= 1, got {max_sessions}.")
    if idle_timeout_s is not None and idle_timeout_s <= 0:
        raise ValueError(f"idle_timeout_s must be > 0 or None, got {idle_timeout_s}.")
    if max_request_bytes < 1024:
        raise ValueError(f"max_request_bytes must be >= 1024, got {max_request_bytes}.")
    shared = SharedEnvParts(env_id, env_kwargs)
    app = create_fastapi_app(lambda: TextEnvsEnvironment(shared), TextEnvsAction, TextEnvsObservation,
                             concurrency_config=ConcurrencyConfig(max_concurrent_envs=max_sessions,
                                                                  session_timeout=idle_timeout_s),
                             env_name=env_id, state_cls=TextEnvsState)
    app.state.textenvs_shared = shared
    app.state.max_request_bytes = max_request_bytes
    manifest = _manifest_yaml(openenv_manifest(env_id, port))

    @app.middleware("http")
    async def limit_request_size(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_request_bytes):
            return JSONResponse({"detail": f"Request body of {length} bytes is over this server's limit of "
                                           f"{max_request_bytes} bytes."}, status_code=413)
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            body = b""
            async for chunk in request.stream():  # chunked upload: count as it arrives, stop at the limit
                body += chunk
                if len(body) > max_request_bytes:
                    return JSONResponse({"detail": f"Request body over this server's limit of {max_request_bytes} "
                                                   "bytes."}, status_code=413)
            request._body = body  # the handler reads the body already consumed here
        return await call_next(request)

    @app.get("/openenv.yaml", response_class=PlainTextResponse)
    def openenv_yaml() -> str:
        return manifest

    app.router.on_shutdown.append(shared.close)
    return app


def serve(env_id: str, env_kwargs: Mapping[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          max_sessions: int = DEFAULT_MAX_SESSIONS, idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
          max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, log_level: str = "warning") -> None:
    """Serve ``env_id`` with uvicorn until interrupted (arguments of :func:`create_app`; WebSocket frames are capped
    at ``max_request_bytes`` too)."""
    import uvicorn

    app = create_app(env_id, env_kwargs, max_sessions=max_sessions, idle_timeout_s=idle_timeout_s,
                     max_request_bytes=max_request_bytes, port=port)
    uvicorn.run(app, host=host, port=port, ws_max_size=max_request_bytes, log_level=log_level)


def __getattr__(name: str) -> Any:
    # ``app`` for ``uvicorn textenvs.integrations.openenv:app`` (the manifest's entry point), built on first access.
    if name == "app":
        env_id = os.environ.get("TEXTENVS_OPENENV_ENV")
        if not env_id:
            raise AttributeError("textenvs.integrations.openenv.app serves the env named by TEXTENVS_OPENENV_ENV "
                                 "(e.g. textenvs/Translation-v0), which is not set.")
        kwargs = json.loads(os.environ.get("TEXTENVS_OPENENV_ENV_KWARGS", "{}"))
        globals()["app"] = create_app(env_id, kwargs)
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """``textenvs serve-openenv --env ID [--port N] ...``: serve a textenvs env as an OpenEnv environment."""
    parser = argparse.ArgumentParser(prog="textenvs serve-openenv",
                                     description="Serve a textenvs env as an OpenEnv environment (WebSocket /ws, "
                                                 "HTTP /reset /step /state /schema /health, /openenv.yaml).")
    parser.add_argument("--env", required=True, help="env id, e.g. textenvs/Translation-v0")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of gymnasium.make arguments")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS)
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S,
                        help="seconds before an idle session is closed (0: never)")
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    parser.add_argument("--manifest", metavar="PATH", help="write the openenv.yaml manifest there and exit")
    args = parser.parse_args(argv)
    try:
        env_kwargs = json.loads(args.env_kwargs)
        if not isinstance(env_kwargs, dict):
            raise ValueError("--env-kwargs must be a JSON object")
        import textenvs

        textenvs.check_env_arguments(args.env, env_kwargs)
    except Exception as error:  # a typo'd id or argument: one line, no traceback
        print(f"textenvs serve-openenv: {error}", file=__import__("sys").stderr)
        return 2
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as handle:
            handle.write(_manifest_yaml(openenv_manifest(args.env, args.port)))
        print(f"wrote {args.manifest}")
        return 0
    print(f"Serving {args.env} as an OpenEnv environment on http://{args.host}:{args.port} (WebSocket /ws)")
    serve(args.env, env_kwargs, host=args.host, port=args.port, max_sessions=args.max_sessions,
          idle_timeout_s=args.idle_timeout or None, max_request_bytes=args.max_request_bytes)
    return 0
