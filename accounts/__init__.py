"""Users and roles: viewers watch, operators (staff) manage cameras."""
