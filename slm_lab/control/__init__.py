"""Control: Session (one seed), Trial (several seeds), Experiment (a search), jobs, benchmark."""
