"""DRAW (Gregor et al. 2015), the recurrent network that draws: model and (to come) its data,
training and export."""
