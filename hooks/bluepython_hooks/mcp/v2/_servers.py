# SPDX-License-Identifier: Apache-2.0
"""mcp 2.x servers and their components: ``python_mcp_server_init`` and
``python_mcp_server_add``."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ..._emit import component_added, internal_error, server_init
from ._shared import _FRAMEWORK_LOWLEVEL, _FRAMEWORK_MCPSERVER

# Frameworks with hooks of their own that subclass the SDK's low-level Server
# and emit their own python_mcp_server_init (fastmcp's LowLevelServer).
_OWN_HOOKS_PACKAGES = frozenset({"fastmcp"})


# ---------------------------------------------------------------------------
# Servers and their components
#
# One python_mcp_server_init per server the app creates:
# - MCPServer: emitted by MCPServer.__init__ (framework "mcp.mcpserver"); the
#   low-level Server it builds inside its __init__ is not reported again.
# - Server: emitted for the SDK's class and the app's own subclasses, not for
#   subclasses defined by a framework with hooks of its own (fastmcp's
#   LowLevelServer: fastmcp/v4 reports those), nor while an MCPServer is
#   being constructed (in this thread).

_constructing = threading.local()  # .depth: MCPServer.__init__ calls in progress in this thread
_manager_servers: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _server_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        package = (type(instance).__module__ or "").split(".", 1)[0]
        if getattr(_constructing, "depth", 0) == 0 and package not in _OWN_HOOKS_PACKAGES:
            server_init(
                instance.name,
                title=instance.title,
                description=instance.description,
                version=instance.version or None,
                instructions=instance.instructions,
                framework=_FRAMEWORK_LOWLEVEL,
                website_url=getattr(instance, "website_url", None),
            )
    except Exception as exc:
        internal_error("hooks: mcp: server_init", exc)
    return result


def _mcpserver_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    _constructing.depth = getattr(_constructing, "depth", 0) + 1
    try:
        result = wrapped(*args, **kwargs)
    finally:
        _constructing.depth -= 1
    try:
        name = instance.name
        server_init(
            name,
            title=instance.title,
            description=instance.description,
            version=instance.version or None,
            instructions=instance.instructions,
            framework=_FRAMEWORK_MCPSERVER,
            website_url=instance.website_url,
        )
        tools = instance._tool_manager
        resources = instance._resource_manager
        prompts = instance._prompt_manager
        for manager in (tools, resources, prompts):
            _manager_servers[manager] = name
        # Components given to the constructor (ToolManager(tools=...) stores
        # them without add_tool; ResourceManager(resources=...) calls
        # add_resource before the server is known).
        for tool in tools.list_tools():
            _server_add("tool", tool, name)
        for resource in resources.list_resources():
            _server_add("resource", resource, name)
        for template in resources.list_templates():
            _server_add("resource_template", template, name)
        for prompt in prompts.list_prompts():
            _server_add("prompt", prompt, name)
    except Exception as exc:
        internal_error("hooks: mcp: server_init", exc)
    return result


def _server_add(kind: str, component: Any, server_name: str | None) -> None:
    component_added(kind, component, server_name=server_name, framework=_FRAMEWORK_MCPSERVER)


_STORES = {
    "tool": "_tools",
    "resource": "_resources",
    "resource_template": "_templates",
    "prompt": "_prompts",
}


def _add_wrapper(kind: str) -> Any:
    store = _STORES[kind]

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if getattr(_constructing, "depth", 0):
            return wrapped(*args, **kwargs)  # reported by MCPServer.__init__, with its server
        try:
            before = len(getattr(instance, store))
        except Exception:
            before = None
        result = wrapped(*args, **kwargs)
        try:
            # A duplicate keeps (and returns) the existing component: nothing
            # was added. Templates are replaced, so always reported.
            if kind == "resource_template" or before is None or len(getattr(instance, store)) > before:
                try:
                    server_name = _manager_servers.get(instance)
                except TypeError:
                    server_name = None
                _server_add(kind, result, server_name)
        except Exception as exc:
            internal_error("hooks: mcp: server_add", exc)
        return result

    return wrapper
