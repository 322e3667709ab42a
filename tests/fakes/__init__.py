"""Loopback fakes of brokers and vendors, speaking their real wire formats."""
