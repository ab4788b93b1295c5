"""BMG-style data generation (paper, appendix B): KG relation rows (`rows`) -> generators (`templates`,
`llm`, chosen by `backends`) -> the sanity check (`sanity`) -> a dataset with its card (`build`, `card`)."""
