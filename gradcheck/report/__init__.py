"""Reports: the data (:mod:`.model`), built from measurements (:mod:`.build`), explained
(:mod:`.hints`) and drawn as text (:mod:`.render`)."""
