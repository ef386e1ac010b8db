"""The pure routing core: contact-centre concepts and decisions, standard library only."""
