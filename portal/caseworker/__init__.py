"""The caseworker's pages: inbox, case page and its actions; administrators' job pages."""
