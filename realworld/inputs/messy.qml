import QtQuick
import QtQuick.Controls
Rectangle { id:root; width:  200 ; height:100
  color: "steelblue"
    property int count:0
  signal clicked(  string name )
      Text { anchors.centerIn:parent; text: "Count: "+root.count
  font.pixelSize:18 }
  MouseArea{anchors.fill:parent;onClicked:{root.count++; root.clicked("r")}}
  function reset(){count=0}
}
