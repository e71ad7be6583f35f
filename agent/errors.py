"""The agent's one exception base: every message says what went wrong and what to do."""


class AgentError(Exception):
    """An error the agent reports on the console and answers with the rescue shell."""
