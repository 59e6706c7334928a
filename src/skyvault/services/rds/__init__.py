"""Amazon RDS, Aurora and DocumentDB: all three speak the RDS API (DocumentDB through its own ``docdb`` client)."""
