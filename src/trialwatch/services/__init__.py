"""Services: the one way to do a thing that several faces (CLI, web, scheduler) do."""
