. as $e | ["specversion","id","source","type","subject","time","datacontenttype","dataschema","data","data_base64"] as $k
| (reduce ($k[] | select(. as $x | $e | has($x))) as $x ({}; . + {($x): $e[$x]}))
  + ($e | with_entries(select(.key | IN($k[]) | not)))
