"""Routes new and changed contacts to segments by source, tags and a custom field."""
