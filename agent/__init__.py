"""metalinit's PID-1 agent."""
