"""MCP gateway: DevFlow's tools for coding agents over stdio and streamable HTTP."""
